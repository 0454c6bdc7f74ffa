//! `email`: reports by SMTP (lettre), for the mail clients people read them
//! in. Each report a run writes goes to `to` once per report and period, as
//!
//! ```text
//! multipart/mixed
//! ├── multipart/related
//! │   ├── multipart/alternative
//! │   │   ├── text/plain   the Markdown rendering
//! │   │   └── text/html    the HTML rendering, charts as cid: references
//! │   └── image/png ...    each chart, inline, by Content-ID
//! └── text/csv             the report's findings (attachment)
//! ```
//!
//! Charts are inline `cid:` parts because mail clients block `data:`
//! images. The CSV has one row per finding with its saving and, in
//! `counted_monthly_savings`, the saving as the report's total counts it
//! (each resource once), so the column sums to the report's total.
//!
//! TLS: `starttls` (the default; the connection is refused if the server
//! does not offer STARTTLS, so credentials never go in the clear),
//! `implicit` (SMTPS, port 465), or `none`, allowed only for a loopback
//! relay. `ca_file` adds a CA for a private relay. Every SMTP failure is
//! retried (a wrong password or a refused recipient is usually fixed in
//! the config, and the report should still go out once it is): the error
//! says what the server answered.
//!
//! ```toml
//! [sinks.mail]
//! type = "email"
//! server = "smtp.example.com:587"
//! username = "vitals"
//! password = "${SMTP_PASSWORD}"
//! from = "vitals <vitals@example.com>"
//! to = ["sre@example.com", "finops@example.com"]
//! reports = ["weekly"]          # default: every report
//!
//! # Each owner (the `[findings] owner_tag` value) also gets a digest with
//! # only their findings and savings; `to` may then be empty.
//! [sinks.mail.owner_digests]
//! payments = "payments-oncall@example.com"
//! platform = ["platform@example.com", "lead@example.com"]
//! ```
//!
//! An owner's digest is the report narrowed to the findings that owner
//! owns (its Savings and Latency sections; the company-wide cost sections
//! left out), with a CSV of those findings. It is sent only in a week that
//! owner has findings: an empty digest would teach people to ignore it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};

use crate::{Event, Notification, ReportMessage, Route, SendError, Sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TlsMode {
    #[default]
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailConfig {
    /// `host:port` of the SMTP server.
    server: String,
    #[serde(default)]
    tls: TlsMode,
    username: Option<String>,
    password: Option<Secret>,
    /// A PEM file of CA certificates to trust besides the system's.
    ca_file: Option<std::path::PathBuf>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
    /// Owner → the addresses that get that owner's digest.
    #[serde(default)]
    owner_digests: BTreeMap<String, Addresses>,
    /// Report names it sends; default every report.
    #[serde(default)]
    reports: Vec<String>,
    /// Seconds for the whole SMTP exchange. Default 60.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

/// One address or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Addresses {
    One(String),
    Many(Vec<String>),
}

impl Addresses {
    fn list(&self) -> &[String] {
        match self {
            Addresses::One(a) => std::slice::from_ref(a),
            Addresses::Many(a) => a,
        }
    }
}

fn default_timeout() -> u64 {
    60
}

pub struct Email {
    name: String,
    route: Route,
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    owner_digests: BTreeMap<String, Vec<Mailbox>>,
    reports: Vec<String>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the password.
        f.debug_struct("Email")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .field("owners", &self.owner_digests.len())
            .field("reports", &self.reports)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    let (route, own): (Route, EmailConfig) = config.parse_shared()?;
    if !route.kinds.is_empty()
        || route.severity.is_some()
        || !route.services.is_empty()
        || !route.owners.is_empty()
    {
        return Err(config.error(
            None,
            "an email sink sends reports (choose them with `reports`, and owners' \
             digests with `owner_digests`); `kinds`, `severity`, `services` and \
             `owners` do not apply",
        ));
    }
    let (host, port) = own
        .server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| config.error(Some("server"), "must be `host:port`"))?;
    let mailbox = |key: &str, s: &str| {
        s.parse::<Mailbox>()
            .map_err(|e| config.error(Some(key), format!("`{s}` is not an address: {e}")))
    };
    let from = mailbox("from", &own.from)?;
    if own.to.is_empty() && own.owner_digests.is_empty() {
        return Err(config.error(
            Some("to"),
            "needs at least one address (or `owner_digests`)",
        ));
    }
    let to = own
        .to
        .iter()
        .map(|a| mailbox("to", a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut owner_digests = BTreeMap::new();
    for (owner, addresses) in &own.owner_digests {
        let key = format!("owner_digests.{owner}");
        if owner.trim().is_empty() || addresses.list().is_empty() {
            return Err(config.error(
                Some("owner_digests"),
                format!("`{key}`: an owner and at least one address"),
            ));
        }
        let list = addresses
            .list()
            .iter()
            .map(|a| {
                a.parse::<Mailbox>().map_err(|e| {
                    config.error(
                        Some("owner_digests"),
                        format!("`{key}`: `{a}` is not an address: {e}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        owner_digests.insert(owner.clone(), list);
    }
    let tls = match own.tls {
        TlsMode::None if !is_loopback(&host) => {
            return Err(config.error(
                Some("tls"),
                format!(
                    "`none` sends in the clear and is allowed only for a loopback relay, not `{host}`"
                ),
            ));
        }
        TlsMode::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(path) = &own.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    config.error(
                        Some("ca_file"),
                        format!("reading `{}`: {e}", path.display()),
                    )
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    config.error(
                        Some("ca_file"),
                        format!("`{}` is not a PEM certificate: {e}", path.display()),
                    )
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| config.error(Some("tls"), format!("TLS settings: {e}")))?;
            if mode == TlsMode::Implicit {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(own.timeout_secs.max(1))));
    match (own.username, own.password) {
        (Some(user), Some(password)) => {
            transport =
                transport.credentials(Credentials::new(user, password.expose().to_string()));
        }
        (None, None) => {}
        (Some(_), None) => return Err(config.error(Some("password"), "`username` needs it")),
        (None, Some(_)) => return Err(config.error(Some("username"), "`password` needs it")),
    }
    Ok(Box::new(Email {
        name: config.name.clone(),
        route,
        server: own.server,
        from,
        to,
        owner_digests,
        reports: own.reports,
        transport: transport.build(),
    }))
}

/// An inline image: its Content-ID and PNG bytes.
type InlineImage = (String, Vec<u8>);

/// The HTML with every `data:image/png;base64,` source replaced by a
/// `cid:` reference, and the images it references.
fn inline_images(html: &str, tag: &str) -> Result<(String, Vec<InlineImage>), String> {
    const PREFIX: &str = "data:image/png;base64,";
    let mut out = String::with_capacity(html.len());
    let mut images = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let data = &rest[at + PREFIX.len()..];
        let end = data
            .find(['"', '\'', ')'])
            .ok_or("an image's data: URI has no end")?;
        let png = STANDARD
            .decode(data[..end].trim())
            .map_err(|e| format!("an image's data: URI is not base64: {e}"))?;
        let cid = format!("chart{}.{tag}@vitals", images.len() + 1);
        let _ = write!(out, "cid:{cid}");
        images.push((cid, png));
        rest = &data[end..];
    }
    out.push_str(rest);
    Ok((out, images))
}

/// The report's findings as CSV (RFC 4180: CRLF, quoted where needed).
fn findings_csv(report: &ReportMessage) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Six decimals (trailing zeros dropped): a column of them sums to the
    // report's total to the cent however many rows there are.
    let money = |v: Option<f64>| {
        v.map(|v| {
            let s = format!("{v:.6}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        })
        .unwrap_or_default()
    };
    let header = [
        "finding_id",
        "kind",
        "severity",
        "status",
        "provider",
        "account_id",
        "service",
        "owner",
        "resource_id",
        "title",
        "monthly_savings",
        "counted_monthly_savings",
        "currency",
        "first_seen",
        "last_seen",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for rf in &report.findings {
        let f = &rf.finding;
        rows.push(vec![
            f.finding_id.clone(),
            f.kind.clone(),
            f.severity.as_str().to_string(),
            format!("{:?}", f.status).to_lowercase(),
            f.provider.clone().unwrap_or_default(),
            f.account_id.clone().unwrap_or_default(),
            f.service.clone().unwrap_or_default(),
            f.owner.clone().unwrap_or_default(),
            f.resource_id.clone().unwrap_or_default(),
            f.title.clone(),
            money(f.monthly_savings),
            money(rf.counted_savings),
            f.currency.clone().unwrap_or_default(),
            f.first_seen.to_rfc3339(),
            f.last_seen.to_rfc3339(),
        ]);
    }
    for row in rows {
        w.write_record(&row).expect("CSV into memory");
    }
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("CSV of UTF-8 fields")
}

/// `owner` as a file name part: letters, digits, `-`, `_` and `.` kept,
/// the rest `_`.
fn file_part(owner: &str) -> String {
    owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Email {
    /// Who gets `event`: an owner's digest its owner's addresses, anything
    /// else `to` (a test message with `to` empty: every owner's).
    fn recipients(&self, event: &Event) -> Result<Vec<Mailbox>, String> {
        if let Event::Report(r) = event
            && let Some(owner) = &r.owner
        {
            return self.owner_digests.get(owner).cloned().ok_or_else(|| {
                format!("no address for owner `{owner}` (`owner_digests` no longer names it)")
            });
        }
        if self.to.is_empty() {
            let mut all: Vec<Mailbox> = self.owner_digests.values().flatten().cloned().collect();
            all.sort_by_key(|m| m.to_string());
            all.dedup();
            return Ok(all);
        }
        Ok(self.to.clone())
    }

    fn message(&self, n: &Notification) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .message_id(Some(format!("<{}@vitals>", n.id)))
            .date(n.created_at.into());
        for to in self.recipients(&n.event)? {
            builder = builder.to(to);
        }
        let built = match &n.event {
            Event::Report(report) => {
                let tag: String = n.id.chars().rev().take(12).collect();
                let (html, images) = inline_images(&report.html, &tag)?;
                let png = ContentType::parse("image/png").expect("a valid content type");
                let mut related = MultiPart::related().multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(report.text.clone()))
                        .singlepart(SinglePart::html(html)),
                );
                for (cid, bytes) in images {
                    related =
                        related.singlepart(Attachment::new_inline(cid).body(bytes, png.clone()));
                }
                let csv =
                    ContentType::parse("text/csv; charset=utf-8").expect("a valid content type");
                builder.subject(report.title.clone()).multipart(
                    MultiPart::mixed().multipart(related).singlepart(
                        Attachment::new(match &report.owner {
                            None => format!("{}-{}-findings.csv", report.report, report.period),
                            Some(owner) => format!(
                                "{}-{}-{}-findings.csv",
                                report.report,
                                report.period,
                                file_part(owner)
                            ),
                        })
                        .body(findings_csv(report), csv),
                    ),
                )
            }
            Event::Test => builder
                .subject("vitals test message")
                .singlepart(SinglePart::plain(format!(
                    "A test message from vitals' email sink `{}`.\n",
                    self.name
                ))),
            Event::Finding { .. } | Event::Digest { .. } => {
                return Err("the email sink sends reports, not finding changes".into());
            }
        };
        built.map_err(|e| format!("building the message: {e}"))
    }
}

impl Email {
    fn sends(&self, report: &str) -> bool {
        self.reports.is_empty() || self.reports.iter().any(|r| r == report)
    }
}

/// An SMTP failure, said with what the server answered.
fn smtp_error(server: &str, e: &lettre::transport::smtp::Error) -> SendError {
    let mut message = format!("SMTP {server}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    let hint = match e.status().map(|c| c.to_string()) {
        Some(code) if code == "535" || code == "534" => {
            " (authentication refused: check `username` and `password`)"
        }
        Some(code) if code == "550" || code == "553" || code == "554" => {
            " (a recipient or the sender was refused: check `to` and `from`)"
        }
        _ if e.is_tls() => " (TLS: check `tls`, `ca_file` and the server's certificate)",
        _ => "",
    };
    message.push_str(hint);
    SendError::Retry {
        message,
        after: None,
    }
}

#[async_trait]
impl Sink for Email {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "email"
    }

    fn route(&self) -> &Route {
        &self.route
    }

    fn takes_findings(&self) -> bool {
        false
    }

    fn takes_report(&self, report: &str) -> bool {
        !self.to.is_empty() && self.sends(report)
    }

    fn report_owners(&self, report: &str) -> Vec<String> {
        if self.sends(report) {
            self.owner_digests.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }

    async fn connect(&self) -> Result<String, SendError> {
        // Connects, negotiates TLS, authenticates and says NOOP.
        match self.transport.test_connection().await {
            Ok(true) => Ok("connected, TLS and AUTH as configured, NOOP answered".into()),
            Ok(false) => Err(SendError::Retry {
                message: format!("SMTP {}: the server did not answer NOOP", self.server),
                after: None,
            }),
            Err(e) => Err(smtp_error(&self.server, &e)),
        }
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let message = self
            .message(n)
            .map_err(|message| SendError::Permanent { message })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| smtp_error(&self.server, &e))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use vitals_core::finding::{Finding, FindingStatus, Severity};

    use super::*;
    use crate::ReportFinding;

    fn config(extra: &str) -> ComponentConfig {
        ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Sink,
            "mail",
            &format!(
                "type = \"email\"\nfrom = \"vitals <vitals@example.com>\"\n\
                 to = [\"sre@example.com\"]\n{extra}"
            ),
        )
        .unwrap()
    }

    #[test]
    fn config_is_checked_and_the_password_never_prints() {
        let ok = build(&config(
            "server = \"smtp.example.com:587\"\nusername = \"u\"\npassword = \"hunter2\"",
        ))
        .unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
        assert!(ok.takes_report("weekly") && !ok.takes_findings());
        let err = |extra: &str| build(&config(extra)).unwrap_err().to_string();
        assert!(err("server = \"smtp.example.com\"").contains("host:port"));
        let clear = err("server = \"smtp.example.com:25\"\ntls = \"none\"");
        assert!(clear.contains("loopback"), "{clear}");
        build(&config("server = \"127.0.0.1:25\"\ntls = \"none\"")).unwrap();
        assert!(err("server = \"h:25\"\nusername = \"u\"").contains("password"));
        assert!(err("server = \"h:25\"\nseverity = \"critical\"").contains("reports"));
        assert!(err("server = \"h:25\"\nca_file = \"/nonexistent.pem\"").contains("ca_file"));
        assert!(err("server = \"h:25\"\nowners = [\"a\"]").contains("owner_digests"));
        // Owners' digests: one address or a list; `to` may then be empty.
        let digests = |table: &str| {
            ComponentConfig::from_toml(
                vitals_core::config::ComponentKind::Sink,
                "mail",
                &format!(
                    "type = \"email\"\nserver = \"h:25\"\nfrom = \"v@example.com\"\n\
                     owner_digests = {{ {table} }}"
                ),
            )
            .unwrap()
        };
        let owners = build(&digests(
            "platform = \"p@example.com\", data = [\"d1@example.com\", \"d2@example.com\"]",
        ))
        .unwrap();
        assert_eq!(owners.report_owners("weekly"), ["data", "platform"]);
        assert!(!owners.takes_report("weekly"), "no `to`: digests only");
        let bad = build(&digests("platform = \"not an address\""))
            .unwrap_err()
            .to_string();
        assert!(bad.contains("owner_digests.platform"), "{bad}");
        assert!(build(&digests("platform = []")).is_err());
    }

    #[test]
    fn data_images_become_cid_parts_and_findings_a_csv() {
        let png = STANDARD.encode(b"\x89PNG fake");
        let html = format!(
            "<p>a</p><img src=\"data:image/png;base64,{png}\"><img src='data:image/png;base64,{png}'>"
        );
        let (out, images) = inline_images(&html, "t").unwrap();
        assert_eq!(
            out,
            "<p>a</p><img src=\"cid:chart1.t@vitals\"><img src='cid:chart2.t@vitals'>"
        );
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].1, b"\x89PNG fake");
        assert!(inline_images("<img src=\"data:image/png;base64,@@\">", "t").is_err());

        let f = |id: &str, saving: Option<f64>| Finding {
            finding_id: id.into(),
            kind: "idle_resource".into(),
            severity: Severity::Warning,
            provider: Some("aws".into()),
            account_id: None,
            service: None,
            resource_id: Some("i-1".into()),
            title: "i-1, \"idle\"".into(),
            evidence: serde_json::Value::Null,
            monthly_savings: saving,
            currency: Some("USD".into()),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        };
        let report = ReportMessage {
            report: "weekly".into(),
            period: "2024-W39".into(),
            owner: None,
            title: "t".into(),
            html: String::new(),
            text: String::new(),
            findings: vec![
                ReportFinding {
                    finding: f("a", Some(10.5)),
                    counted_savings: Some(10.5),
                },
                ReportFinding {
                    finding: f("b", Some(3.0)),
                    counted_savings: None,
                },
            ],
        };
        let csv = findings_csv(&report);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].contains(",,i-1,\"i-1, \"\"idle\"\"\",10.5,10.5,USD,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",3,,USD,"), "{}", lines[2]);
    }
}
