//! FOCUS 1.0–1.2 exports (CSV or Parquet) mapped onto the cost dataset.
//!
//! - Columns are matched by their FOCUS names, case-insensitively. The FOCUS
//!   columns the cost dataset carries are mapped; other FOCUS columns are
//!   skipped; non-FOCUS columns (including `x_*` provider extensions) are
//!   ignored and listed once per file in the run's warnings.
//! - A file lacking a required column (`ChargePeriodStart`, `ChargePeriodEnd`,
//!   `BilledCost`, `EffectiveCost`, `BillingCurrency`, `ChargeCategory`,
//!   `ProviderName` or its FOCUS 1.3 successor `ServiceProviderName`) is not a
//!   FOCUS export: the whole file is an error.
//! - The literal `NULL` and empty cells are nulls. Numbers are parsed from their
//!   decimal text (correctly rounded to f64: 15–17 significant digits).
//!   Timestamps with a zone (`Z`, `+02:00`) are converted to UTC; without one
//!   they are UTC, as FOCUS requires.
//! - A row that cannot be loaded (wrong number of fields, a required value
//!   missing, a cell that does not parse, an end before the start) is a bad
//!   row: counted, reported with file and line, and left out. `Tags` that are
//!   not a JSON object cost the row only its tags, with a warning.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::*;

use crate::collector::{CollectReport, CollectWindow, Position};
use vitals_core::cost_rows::{CostRow, tags_json};

use crate::cost_rows::CostBatches;
use crate::csv_records::CsvRecords;
use crate::error::CollectError;
use crate::parquet_cells::{Cell, ParquetColumn};
use crate::tally::FileTally;
use vitals_core::dataset::ColumnType;

/// Every column name of FOCUS 1.0 to 1.2 (and 1.3's provider columns).
const FOCUS_COLUMNS: &[&str] = &[
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
];

/// The FOCUS columns the cost dataset carries, as indices into the file's columns.
#[derive(Debug, Default)]
struct Columns {
    start: usize,
    end: usize,
    provider: usize,
    billed: usize,
    effective: usize,
    currency: usize,
    charge_category: usize,
    billing_account_id: Option<usize>,
    billing_account_name: Option<usize>,
    sub_account_id: Option<usize>,
    sub_account_name: Option<usize>,
    service_name: Option<usize>,
    service_category: Option<usize>,
    sku_id: Option<usize>,
    charge_class: Option<usize>,
    charge_description: Option<usize>,
    pricing_category: Option<usize>,
    commitment_discount_id: Option<usize>,
    resource_id: Option<usize>,
    resource_name: Option<usize>,
    resource_type: Option<usize>,
    region_id: Option<usize>,
    consumed_quantity: Option<usize>,
    consumed_unit: Option<usize>,
    pricing_quantity: Option<usize>,
    pricing_unit: Option<usize>,
    list_cost: Option<usize>,
    tags: Option<usize>,
    /// (index, FOCUS name) of every mapped column, for error messages.
    names: HashMap<usize, &'static str>,
}

/// Finds the FOCUS columns in a header. Returns the mapping and the names of
/// non-FOCUS columns, or why this is not a FOCUS file.
fn locate(header: &[String]) -> Result<(Columns, Vec<String>), String> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name
            .trim_start_matches('\u{feff}')
            .trim()
            .to_ascii_lowercase();
        index.entry(name).or_insert(i);
    }
    let focus_lower: Vec<String> = FOCUS_COLUMNS
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ignored: Vec<String> = header
        .iter()
        .filter(|h| {
            !focus_lower.contains(&h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        })
        .cloned()
        .collect();
    if ignored.len() == header.len() {
        let first: Vec<&str> = header.iter().take(5).map(String::as_str).collect();
        return Err(format!(
            "none of its {} columns is a FOCUS column (it starts with {})",
            header.len(),
            first
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut names = HashMap::new();
    let mut find = |focus: &'static str| -> Option<usize> {
        let i = *index.get(&focus.to_ascii_lowercase())?;
        names.insert(i, focus);
        Some(i)
    };
    let provider = find("ProviderName").or_else(|| find("ServiceProviderName"));
    let required = [
        ("ChargePeriodStart", find("ChargePeriodStart")),
        ("ChargePeriodEnd", find("ChargePeriodEnd")),
        ("ProviderName", provider),
        ("BilledCost", find("BilledCost")),
        ("EffectiveCost", find("EffectiveCost")),
        ("BillingCurrency", find("BillingCurrency")),
        ("ChargeCategory", find("ChargeCategory")),
    ];
    let missing: Vec<&str> = required
        .iter()
        .filter(|(_, i)| i.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing required FOCUS column{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let [
        start,
        end,
        provider,
        billed,
        effective,
        currency,
        charge_category,
    ] = required.map(|(_, i)| i.unwrap_or_default());
    let mut columns = Columns {
        start,
        end,
        provider,
        billed,
        effective,
        currency,
        charge_category,
        billing_account_id: find("BillingAccountId"),
        billing_account_name: find("BillingAccountName"),
        sub_account_id: find("SubAccountId"),
        sub_account_name: find("SubAccountName"),
        service_name: find("ServiceName"),
        service_category: find("ServiceCategory"),
        sku_id: find("SkuId"),
        charge_class: find("ChargeClass"),
        charge_description: find("ChargeDescription"),
        pricing_category: find("PricingCategory"),
        commitment_discount_id: find("CommitmentDiscountId"),
        resource_id: find("ResourceId"),
        resource_name: find("ResourceName"),
        resource_type: find("ResourceType"),
        region_id: find("RegionId"),
        consumed_quantity: find("ConsumedQuantity"),
        consumed_unit: find("ConsumedUnit"),
        pricing_quantity: find("PricingQuantity"),
        pricing_unit: find("PricingUnit"),
        list_cost: find("ListCost"),
        tags: find("Tags"),
        names: HashMap::new(),
    };
    columns.names = names;
    Ok((columns, ignored))
}

/// A problem with one cell: the column index and what is wrong.
type CellError = (usize, String);

fn is_null_text(s: &str) -> bool {
    s.is_empty() || s == "NULL"
}

fn text(cell: Cell<'_>) -> Result<Option<String>, String> {
    Ok(match cell {
        Cell::Null => None,
        Cell::Text(s) if is_null_text(s) => None,
        Cell::Text(s) => Some(s.to_string()),
        Cell::Int(n) => Some(n.to_string()),
        Cell::Float(n) => Some(n.to_string()),
        Cell::Micros(m) => Some(micros_to_datetime(m)?.to_string()),
    })
}

fn number(cell: Cell<'_>) -> Result<Option<f64>, String> {
    let value = match cell {
        Cell::Null => return Ok(None),
        Cell::Text(s) if is_null_text(s.trim()) => return Ok(None),
        Cell::Text(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("invalid number `{s}`"))?,
        Cell::Int(n) => n as f64,
        Cell::Float(n) => n,
        Cell::Micros(_) => return Err("expected a number, found a timestamp".to_string()),
    };
    if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(format!("number `{value}` is not finite"))
    }
}

fn timestamp(cell: Cell<'_>) -> Result<Option<NaiveDateTime>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Text(s) if is_null_text(s.trim()) => Ok(None),
        Cell::Text(s) => parse_timestamp(s.trim()).map(Some),
        Cell::Micros(m) => micros_to_datetime(m).map(Some),
        Cell::Int(_) | Cell::Float(_) => Err("expected a timestamp, found a number".to_string()),
    }
}

fn micros_to_datetime(m: i64) -> Result<NaiveDateTime, String> {
    DateTime::from_timestamp_micros(m)
        .map(|t| t.naive_utc())
        .ok_or_else(|| format!("timestamp {m}µs is out of range"))
}

/// Parses `2024-09-01 00:00:00`, `2024-09-01T00:00:00.5Z`,
/// `2024-09-01T02:00:00+02:00`, `2024-09-01T02:00:00+0200` and `2024-09-01`;
/// the result is UTC.
pub(crate) fn parse_timestamp(s: &str) -> Result<NaiveDateTime, String> {
    let invalid = || format!("invalid timestamp `{s}`");
    // `2024-09-01T00:00:00` and `2024-09-01 00:00:00` alike.
    let normalized = match s.as_bytes().get(10) {
        Some(b'T') => format!("{} {}", &s[..10], &s[11..]),
        _ => s.to_string(),
    };
    let normalized = normalized.trim_end();
    if let Some(naive) = normalized
        .strip_suffix('Z')
        .or_else(|| normalized.strip_suffix(" UTC"))
    {
        return NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| invalid());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(normalized, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_str(normalized, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Ok(t.naive_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(normalized, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    }
    Err(invalid())
}

/// Canonical JSON of a tags object, keys sorted. `Err` if not a JSON object.
fn normalize_tags(raw: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => Ok(tags_json(map.into_iter().collect())),
        Ok(other) => Err(format!(
            "`Tags` is a JSON {}, not an object; tags dropped",
            json_kind(&other)
        )),
        Err(e) => Err(format!("`Tags` is not valid JSON ({e}); tags dropped")),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Normalized tags by their raw text: resource-level exports repeat a
/// resource's tags on every one of its rows, so each distinct text is parsed
/// once. Bounded: emptied when it holds `TAG_CACHE_ENTRIES`.
#[derive(Default)]
struct TagCache(HashMap<String, Result<String, String>>);

const TAG_CACHE_ENTRIES: usize = 1 << 16;

impl TagCache {
    fn normalize(&mut self, raw: &str) -> Result<String, String> {
        if let Some(done) = self.0.get(raw) {
            return done.clone();
        }
        if self.0.len() >= TAG_CACHE_ENTRIES {
            self.0.clear();
        }
        let done = normalize_tags(raw);
        self.0.insert(raw.to_string(), done.clone());
        done
    }
}

/// Maps one row. `Err` names the offending column; the tags warning is
/// returned beside a good row.
fn map_row<'a>(
    c: &Columns,
    tags: &mut TagCache,
    cell: impl Fn(usize) -> Cell<'a>,
) -> Result<(CostRow, Option<String>), CellError> {
    let req = |i: usize, v: Result<Option<String>, String>| -> Result<String, CellError> {
        v.map_err(|e| (i, e))?
            .ok_or((i, "a value is required".to_string()))
    };
    let opt_text = |i: Option<usize>| -> Result<Option<String>, CellError> {
        i.map_or(Ok(None), |i| text(cell(i)).map_err(|e| (i, e)))
    };
    let opt_number = |i: Option<usize>| -> Result<Option<f64>, CellError> {
        i.map_or(Ok(None), |i| number(cell(i)).map_err(|e| (i, e)))
    };
    let req_number = |i: usize| -> Result<f64, CellError> {
        number(cell(i))
            .map_err(|e| (i, e))?
            .ok_or((i, "a value is required".to_string()))
    };
    let req_time = |i: usize| -> Result<NaiveDateTime, CellError> {
        timestamp(cell(i))
            .map_err(|e| (i, e))?
            .ok_or((i, "a value is required".to_string()))
    };

    let start = req_time(c.start)?;
    let end = req_time(c.end)?;
    if end < start {
        return Err((c.end, format!("ends ({end}) before it starts ({start})")));
    }
    let (tags, tags_warning) = match opt_text(c.tags)? {
        None => (None, None),
        Some(raw) => match tags.normalize(&raw) {
            Ok(t) => (Some(t), None),
            Err(w) => (None, Some(w)),
        },
    };
    let row = CostRow {
        charge_period_start: start,
        charge_period_end: end,
        provider: req(c.provider, text(cell(c.provider)))?,
        billing_account_id: opt_text(c.billing_account_id)?,
        billing_account_name: opt_text(c.billing_account_name)?,
        sub_account_id: opt_text(c.sub_account_id)?,
        sub_account_name: opt_text(c.sub_account_name)?,
        service_name: opt_text(c.service_name)?,
        service_category: opt_text(c.service_category)?,
        sku_id: opt_text(c.sku_id)?,
        charge_category: req(c.charge_category, text(cell(c.charge_category)))?,
        charge_class: opt_text(c.charge_class)?,
        charge_description: opt_text(c.charge_description)?,
        pricing_category: opt_text(c.pricing_category)?,
        commitment_discount_id: opt_text(c.commitment_discount_id)?,
        resource_id: opt_text(c.resource_id)?,
        resource_name: opt_text(c.resource_name)?,
        resource_type: opt_text(c.resource_type)?,
        region_id: opt_text(c.region_id)?,
        consumed_quantity: opt_number(c.consumed_quantity)?,
        consumed_unit: opt_text(c.consumed_unit)?,
        pricing_quantity: opt_number(c.pricing_quantity)?,
        pricing_unit: opt_text(c.pricing_unit)?,
        billed_cost: req_number(c.billed)?,
        effective_cost: req_number(c.effective)?,
        list_cost: opt_number(c.list_cost)?,
        billing_currency: req(c.currency, text(cell(c.currency)))?,
        tags,
        x_instance_type: None,
        x_net_amortized_cost: None,
    };
    Ok((row, tags_warning))
}

/// Options of one FOCUS read.
#[derive(Debug, Clone, Copy)]
pub struct FocusOptions {
    /// Largest fraction of a file's rows that may be bad before the file fails.
    pub max_bad_row_fraction: f64,
    pub window: CollectWindow,
}

/// Handles one mapped row: keeps it if inside the window.
fn keep_row(
    tally: &mut FileTally<'_>,
    position: Position,
    mapped: Result<(CostRow, Option<String>), CellError>,
    columns: &Columns,
    opts: &FocusOptions,
    out: &mut CostBatches,
) -> Result<(), CollectError> {
    tally.rows += 1;
    match mapped {
        Ok((row, warning)) => {
            if let Some(w) = warning {
                tally.warning(position, w);
            }
            if opts.window.contains(row.charge_period_start.date()) {
                out.push_blocking(row)?;
            }
        }
        Err((i, message)) => {
            let field = columns.names.get(&i).copied();
            tally.bad_row(position, field, message);
        }
    }
    Ok(())
}

/// Reports a file's ignored non-FOCUS columns, then its tally.
fn finish_file(
    tally: FileTally<'_>,
    ignored: Vec<String>,
    opts: &FocusOptions,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let note = (!ignored.is_empty()).then(|| {
        format!(
            "ignored {} non-FOCUS column{}: {}",
            ignored.len(),
            if ignored.len() == 1 { "" } else { "s" },
            ignored
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    tally.finish(note, opts.max_bad_row_fraction, report)
}

/// Reads a FOCUS CSV (already decompressed) into `out`, record by record.
pub fn read_csv(
    reader: impl Read,
    path: &Path,
    opts: &FocusOptions,
    out: &mut CostBatches,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let mut records = CsvRecords::new(reader, path, |reason| CollectError::NotFocus {
        path: path.to_path_buf(),
        reason,
    })?;
    if records.header().iter().all(|h| h.trim().is_empty()) {
        return Err(CollectError::NotFocus {
            path: path.to_path_buf(),
            reason: "the file is empty".to_string(),
        });
    }
    let (columns, ignored) = locate(records.header()).map_err(|reason| CollectError::NotFocus {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut tally = FileTally::new(path);
    let mut tags = TagCache::default();
    while let Some((line, fields)) = records.next(&mut tally)? {
        let mapped = map_row(&columns, &mut tags, |i| Cell::Text(fields[i]));
        keep_row(
            &mut tally,
            Position::Line(line),
            mapped,
            &columns,
            opts,
            out,
        )?;
    }
    finish_file(tally, ignored, opts, report)
}

/// The cost dataset's text and number columns with the FOCUS column each
/// comes from, if the file has it.
/// A canonical column and the file's column it comes from, if any.
type Source = (&'static str, Option<usize>);

fn text_and_number_columns(c: &Columns) -> ([Source; 20], [Source; 6]) {
    (
        [
            ("provider", Some(c.provider)),
            ("billing_account_id", c.billing_account_id),
            ("billing_account_name", c.billing_account_name),
            ("sub_account_id", c.sub_account_id),
            ("sub_account_name", c.sub_account_name),
            ("service_name", c.service_name),
            ("service_category", c.service_category),
            ("sku_id", c.sku_id),
            ("charge_category", Some(c.charge_category)),
            ("charge_class", c.charge_class),
            ("charge_description", c.charge_description),
            ("pricing_category", c.pricing_category),
            ("commitment_discount_id", c.commitment_discount_id),
            ("resource_id", c.resource_id),
            ("resource_name", c.resource_name),
            ("resource_type", c.resource_type),
            ("region_id", c.region_id),
            ("consumed_unit", c.consumed_unit),
            ("pricing_unit", c.pricing_unit),
            ("billing_currency", Some(c.currency)),
        ],
        [
            ("consumed_quantity", c.consumed_quantity),
            ("pricing_quantity", c.pricing_quantity),
            ("billed_cost", Some(c.billed)),
            ("effective_cost", Some(c.effective)),
            ("list_cost", c.list_cost),
            ("x_net_amortized_cost", None),
        ],
    )
}

/// Whether a Parquet file's FOCUS columns have the types the whole-batch
/// mapping takes as they are: text as strings, amounts as numbers or
/// decimals, periods as timestamps or dates. Others (amounts as text, say)
/// are read cell by cell.
fn typed_columns(c: &Columns, schema: &Schema) -> bool {
    let dtype = |i: usize| schema.get_at_index(i).map(|(_, d)| d.clone());
    let (texts, numbers) = text_and_number_columns(c);
    let text_ok = texts
        .iter()
        .chain([("tags", c.tags)].iter())
        .filter_map(|(_, i)| *i)
        .all(|i| matches!(dtype(i), Some(DataType::String | DataType::Null)));
    let number_ok = numbers.iter().filter_map(|(_, i)| *i).all(|i| {
        dtype(i).is_some_and(|d| d.is_primitive_numeric() || d.is_decimal() || d.is_null())
    });
    let time_ok = [c.start, c.end]
        .iter()
        .all(|&i| matches!(dtype(i), Some(DataType::Datetime(_, _) | DataType::Date)));
    text_ok && number_ok && time_ok
}

/// Maps a whole batch of a typed Parquet file (see [`typed_columns`]) in one
/// Polars plan: renamed, cast, `NULL` text as null, periods as UTC
/// microseconds, tags normalized once per distinct text, rows outside the
/// window left out. `None` if any row would be bad or its tags warned about:
/// that batch is then read cell by cell, which says which row and why.
fn map_batch(
    df: &DataFrame,
    c: &Columns,
    header: &[String],
    opts: &FocusOptions,
    source: &str,
    tags: &mut TagCache,
) -> PolarsResult<Option<DataFrame>> {
    let (texts, numbers) = text_and_number_columns(c);
    let source_col = |i: usize| col(header[i].as_str());
    let mut exprs: Vec<Expr> = Vec::new();
    for (name, i) in texts {
        exprs.push(match i {
            Some(i) => {
                let v = source_col(i).cast(DataType::String);
                when(v.clone().eq(lit("")).or(v.clone().eq(lit("NULL"))))
                    .then(lit(NULL).cast(DataType::String))
                    .otherwise(v)
                    .alias(name)
            }
            None => lit(NULL).cast(DataType::String).alias(name),
        });
    }
    for (name, i) in numbers {
        exprs.push(match i {
            Some(i) => source_col(i).cast(DataType::Float64).alias(name),
            None => lit(NULL).cast(DataType::Float64).alias(name),
        });
    }
    let micros = ColumnType::Datetime.dtype();
    for (name, i) in [
        ("charge_period_start", c.start),
        ("charge_period_end", c.end),
    ] {
        exprs.push(
            source_col(i)
                .dt()
                .timestamp(TimeUnit::Microseconds)
                .cast(micros.clone())
                .alias(name),
        );
    }
    exprs.push(match c.tags {
        Some(i) => source_col(i).cast(DataType::String).alias("raw_tags"),
        None => lit(NULL).cast(DataType::String).alias("raw_tags"),
    });
    exprs.push(lit(NULL).cast(DataType::String).alias("x_instance_type"));
    let mapped = df.clone().lazy().select(exprs).collect()?;

    // Every row must pass what the cell-by-cell path checks.
    let finite = |n: &str| col(n).is_null().or(col(n).is_finite());
    let required = [
        "provider",
        "charge_category",
        "billing_currency",
        "billed_cost",
        "effective_cost",
        "charge_period_start",
        "charge_period_end",
    ];
    let mut ok = lit(true);
    for n in required {
        ok = ok.and(col(n).is_not_null());
    }
    for (n, _) in numbers {
        ok = ok.and(finite(n));
    }
    ok = ok.and(col("charge_period_end").gt_eq(col("charge_period_start")));
    let all_ok = mapped
        .clone()
        .lazy()
        .select([ok.all(true).alias("ok")])
        .collect()?;
    if all_ok.column("ok")?.bool()?.get(0) != Some(true) {
        return Ok(None);
    }

    // Tags: each distinct text normalized once; any that is not an object
    // sends the batch cell by cell, which warns about it row by row.
    let distinct = mapped.column("raw_tags")?.unique()?;
    let distinct = distinct.str()?;
    let mut raw = Vec::with_capacity(distinct.len());
    let mut normalized = Vec::with_capacity(distinct.len());
    for value in distinct.iter().flatten() {
        match tags.normalize(value) {
            Ok(t) => {
                raw.push(value.to_string());
                normalized.push(t);
            }
            Err(_) => return Ok(None),
        }
    }
    let lookup = DataFrame::new(
        raw.len(),
        vec![
            Column::new("raw_tags".into(), raw),
            Column::new("tags".into(), normalized),
        ],
    )?;
    let (since, until) = (opts.window.since, opts.window.until);
    let day = col("charge_period_start").dt().date();
    let mut in_window = lit(true);
    if let Some(s) = since {
        in_window = in_window.and(day.clone().gt_eq(lit(s)));
    }
    if let Some(u) = until {
        in_window = in_window.and(day.lt_eq(lit(u)));
    }
    let frame = mapped
        .lazy()
        .join(
            lookup.lazy(),
            [col("raw_tags")],
            [col("raw_tags")],
            JoinArgs {
                maintain_order: MaintainOrderJoin::Left,
                ..JoinArgs::new(JoinType::Left)
            },
        )
        .drop(Selector::ByName {
            names: std::sync::Arc::new([PlSmallStr::from_static("raw_tags")]),
            strict: true,
        })
        .filter(in_window)
        .with_column(lit(source).alias("source"))
        .collect()?;
    Ok(Some(frame))
}

/// Rows of a Parquet file read at a time.
const PARQUET_BATCH_ROWS: usize = crate::collector::BATCH_ROWS;

/// Reads a FOCUS Parquet file into `out`, [`PARQUET_BATCH_ROWS`] rows at a
/// time and only the FOCUS columns the cost dataset carries.
pub fn read_parquet(
    file: &Path,
    path: &Path,
    opts: &FocusOptions,
    out: &mut CostBatches,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let parquet_error = |e: PolarsError| CollectError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let open = || {
        std::fs::File::open(file).map_err(|source| CollectError::Io {
            action: "opening",
            path: path.to_path_buf(),
            source,
        })
    };
    let mut reader = ParquetReader::new(open()?);
    let schema = Schema::from_arrow_schema(reader.schema().map_err(parquet_error)?.as_ref());
    let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let total = reader.num_rows().map_err(parquet_error)?;
    drop(reader);
    let (columns, ignored) = locate(&header).map_err(|reason| CollectError::NotFocus {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut mapped: Vec<usize> = columns.names.keys().copied().collect();
    mapped.sort_unstable();
    let local = PlRefPath::new(file.to_string_lossy().into_owned());
    let typed = typed_columns(&columns, &schema);
    let mut tally = FileTally::new(path);
    let mut tags = TagCache::default();
    let mut offset = 0usize;
    while offset < total {
        let len = PARQUET_BATCH_ROWS.min(total - offset);
        // The lazy scan reads only the row groups of the slice, and only the
        // columns asked for.
        let df = LazyFrame::scan_parquet(local.clone(), ScanArgsParquet::default())
            .and_then(|lf| {
                lf.select(
                    mapped
                        .iter()
                        .map(|&i| col(header[i].as_str()))
                        .collect::<Vec<_>>(),
                )
                .slice(offset as i64, len as IdxSize)
                .collect()
            })
            .map_err(parquet_error)?;
        if typed
            && let Some(frame) = map_batch(&df, &columns, &header, opts, out.source(), &mut tags)
                .map_err(parquet_error)?
        {
            tally.rows += df.height();
            out.send_frame_blocking(frame)?;
            offset += len;
            continue;
        }
        // By the file's column index: a vector, looked up for every cell.
        let mut readers: Vec<Option<ParquetColumn>> = (0..header.len()).map(|_| None).collect();
        for &i in &mapped {
            let column = df.column(header[i].as_str()).map_err(parquet_error)?;
            let reader = ParquetColumn::from_column(column).map_err(|e| CollectError::Parquet {
                path: path.to_path_buf(),
                message: format!("column `{}`: {e}", header[i]),
            })?;
            readers[i] = Some(reader);
        }
        for row in 0..df.height() {
            let mapped = map_row(&columns, &mut tags, |i| {
                readers[i].as_ref().map_or(Cell::Null, |r| r.cell(row))
            });
            keep_row(
                &mut tally,
                Position::Row((offset + row) as u64 + 1),
                mapped,
                &columns,
                opts,
                out,
            )?;
        }
        offset += len;
    }
    finish_file(tally, ignored, opts, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn timestamps_with_and_without_zone_become_utc() {
        assert_eq!(
            parse_timestamp("2024-09-01 00:00:00").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-09-01T00:00:00Z").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-09-01T00:00:00.250Z").unwrap(),
            t("2024-09-01 00:00:00.250")
        );
        assert_eq!(
            parse_timestamp("2024-09-01T02:00:00+02:00").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-09-01 02:00:00+0200").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-08-31T19:00:00-05:00").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-09-01").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert_eq!(
            parse_timestamp("2024-09-01 00:00:00 UTC").unwrap(),
            t("2024-09-01 00:00:00")
        );
        assert!(parse_timestamp("09/01/2024").is_err());
        assert!(parse_timestamp("2024-13-01 00:00:00").is_err());
    }

    #[test]
    fn numbers_keep_their_precision_and_refuse_junk() {
        assert_eq!(number(Cell::Text("0.00000080000")).unwrap(), Some(8e-7));
        assert_eq!(number(Cell::Text("-12.5")).unwrap(), Some(-12.5));
        assert_eq!(number(Cell::Text("1e-3")).unwrap(), Some(0.001));
        assert_eq!(number(Cell::Text("NULL")).unwrap(), None);
        assert_eq!(number(Cell::Text("")).unwrap(), None);
        assert!(number(Cell::Text("$1.00")).is_err());
        assert!(number(Cell::Text("1,000")).is_err());
        assert!(number(Cell::Text("NaN")).is_err());
        assert!(number(Cell::Text("inf")).is_err());
    }

    #[test]
    fn tags_are_normalized_or_dropped_with_a_reason() {
        assert_eq!(
            normalize_tags(r#"{"b": "2", "a": "1"}"#).unwrap(),
            r#"{"a":"1","b":"2"}"#
        );
        assert!(
            normalize_tags("[1]")
                .unwrap_err()
                .contains("JSON array, not an object")
        );
        assert!(
            normalize_tags("{oops")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn crlf_files_report_the_right_line() {
        let header = "BilledCost,BillingCurrency,ChargeCategory,ChargePeriodEnd,ChargePeriodStart,EffectiveCost,ProviderName";
        let row = "1,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS";
        let text = format!("{header}\r\n{row}\r\n{row}\r\nx{}\r\n", &row[1..]);
        let opts = FocusOptions {
            max_bad_row_fraction: 1.0,
            window: crate::collector::CollectWindow {
                since: None,
                until: None,
                today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            },
        };
        let (batches, _rx) = crate::collector::Batches::channel();
        let mut out = CostBatches::new("files", batches);
        let mut report = CollectReport::default();
        read_csv(
            text.as_bytes(),
            Path::new("a.csv"),
            &opts,
            &mut out,
            &mut report,
        )
        .unwrap();
        assert_eq!(
            report.bad_row_samples[0].to_string(),
            "a.csv:4: `BilledCost`: invalid number `x`"
        );
    }

    #[test]
    fn a_header_without_focus_columns_is_not_focus() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = locate(&h(&["date", "amount", "team"])).unwrap_err();
        assert!(
            err.contains("none of its 3 columns is a FOCUS column"),
            "{err}"
        );
        let err = locate(&h(&["BilledCost", "ChargePeriodStart"])).unwrap_err();
        assert!(
            err.contains("missing required FOCUS columns `ChargePeriodEnd`, `ProviderName`"),
            "{err}"
        );
    }

    #[test]
    fn headers_match_case_insensitively_and_report_extras() {
        let h: Vec<String> = [
            "\u{feff}chargeperiodstart",
            "ChargePeriodEnd",
            "ServiceProviderName",
            "BilledCost",
            "EffectiveCost",
            "BillingCurrency",
            "ChargeCategory",
            "Id",
            "x_Discounts",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (c, ignored) = locate(&h).unwrap();
        assert_eq!((c.start, c.provider), (0, 2));
        assert_eq!(ignored, ["Id", "x_Discounts"]);
    }
}
