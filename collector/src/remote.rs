//! Files in object storage: `s3://bucket/key` and `gs://bucket/key` paths,
//! with the same file / directory / glob rules as local paths, fetched into
//! local temporary files for the readers.

use std::fmt;

use tempfile::NamedTempFile;

use crate::error::CollectError;
use crate::gcs::Gcs;
use crate::s3::S3;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub key: String,
    pub size: u64,
}

/// Which object store a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
}

impl Scheme {
    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::S3 => "s3://",
            Scheme::Gcs => "gs://",
        }
    }
}

/// A path in object storage: bucket and key (or key pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", self.scheme.prefix(), self.bucket, self.key)
    }
}

impl RemotePath {
    /// `Ok(None)` for a local path; an error for an object-store URL without
    /// a bucket.
    pub fn parse(path: &str) -> Result<Option<RemotePath>, String> {
        let (scheme, rest) = if let Some(rest) = path.strip_prefix("s3://") {
            (Scheme::S3, rest)
        } else if let Some(rest) = path.strip_prefix("gs://") {
            (Scheme::Gcs, rest)
        } else {
            return Ok(None);
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{path}` names no bucket"));
        }
        if bucket.contains(['*', '?', '[']) {
            return Err(format!("`{path}`: the bucket name cannot be a pattern"));
        }
        Ok(Some(RemotePath {
            scheme,
            bucket: bucket.to_string(),
            key: key.to_string(),
        }))
    }

    pub fn object(&self, key: &str) -> RemotePath {
        RemotePath {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            key: key.to_string(),
        }
    }

    fn is_glob(&self) -> bool {
        self.key.contains(['*', '?', '['])
    }

    /// The longest prefix of the key that holds no pattern, up to a `/`.
    fn list_prefix(&self) -> &str {
        let literal = self
            .key
            .find(['*', '?', '['])
            .map_or(self.key.as_str(), |i| &self.key[..i]);
        match literal.rfind('/') {
            Some(i) if self.is_glob() => &literal[..=i],
            None if self.is_glob() => "",
            _ => literal,
        }
    }

    /// The objects this path names, from a listing of [`Self::list_prefix`]:
    /// a glob's matches (`*` stays within a `/` level, `**` crosses levels);
    /// for a directory (a key ending in `/`, or a key that is not an object
    /// but has objects under `key/`), the objects directly in it; else the
    /// object itself.
    fn select(&self, listing: Vec<RemoteObject>) -> Result<Vec<RemoteObject>, String> {
        if self.is_glob() {
            let pattern = glob::Pattern::new(&self.key).map_err(|e| e.to_string())?;
            let options = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            return Ok(listing
                .into_iter()
                .filter(|o| !o.key.ends_with('/') && pattern.matches_with(&o.key, options))
                .collect());
        }
        if !self.key.is_empty()
            && !self.key.ends_with('/')
            && let Some(exact) = listing.iter().find(|o| o.key == self.key)
        {
            return Ok(vec![exact.clone()]);
        }
        let dir = if self.key.is_empty() || self.key.ends_with('/') {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        };
        Ok(listing
            .into_iter()
            .filter(|o| {
                o.key
                    .strip_prefix(&dir)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            })
            .collect())
    }
}

/// A client for the store a path is in.
#[derive(Debug, Clone)]
pub enum Remote {
    S3(S3),
    Gcs(Gcs),
}

impl Remote {
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<RemoteObject>, CollectError> {
        match self {
            Remote::S3(s3) => s3.list(bucket, prefix).await,
            Remote::Gcs(gcs) => gcs.list(bucket, prefix).await,
        }
    }

    /// The objects `path` names, in key order; none is an error.
    pub async fn resolve(&self, path: &RemotePath) -> Result<Vec<RemotePath>, CollectError> {
        let listing = self.list(&path.bucket, path.list_prefix()).await?;
        let selected = path
            .select(listing)
            .map_err(|message| CollectError::InvalidPattern {
                pattern: path.to_string(),
                message,
            })?;
        if selected.is_empty() {
            return Err(CollectError::NoFiles {
                pattern: path.to_string(),
                hint: " (no objects)",
            });
        }
        Ok(selected.into_iter().map(|o| path.object(&o.key)).collect())
    }

    /// Downloads an object into a new temporary file (removed on drop).
    pub async fn fetch(&self, path: &RemotePath) -> Result<NamedTempFile, CollectError> {
        let temp = tempfile::Builder::new()
            .prefix("vitals-fetch-")
            .tempfile()
            .map_err(|source| CollectError::Io {
                action: "creating a temporary file for",
                path: path.to_string().into(),
                source,
            })?;
        let std_file = temp.reopen().map_err(|source| CollectError::Io {
            action: "opening a temporary file for",
            path: path.to_string().into(),
            source,
        })?;
        let mut file = tokio::fs::File::from_std(std_file);
        match self {
            Remote::S3(s3) => s3.download(&path.bucket, &path.key, &mut file).await?,
            Remote::Gcs(gcs) => gcs.download(&path.bucket, &path.key, &mut file).await?,
        };
        Ok(temp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RemotePath {
        RemotePath::parse(s).unwrap().unwrap()
    }

    fn objects(keys: &[&str]) -> Vec<RemoteObject> {
        keys.iter()
            .map(|k| RemoteObject {
                key: k.to_string(),
                size: 1,
            })
            .collect()
    }

    fn keys(v: Vec<RemoteObject>) -> Vec<String> {
        v.into_iter().map(|o| o.key).collect()
    }

    const LISTING: &[&str] = &[
        "exports/a.csv",
        "exports/b.parquet",
        "exports/2024/09/c.csv.gz",
        "exports/2024/10/d.csv.gz",
        "exportsX/e.csv",
    ];

    #[test]
    fn paths_parse_into_bucket_and_key() {
        assert_eq!(RemotePath::parse("./local/*.csv").unwrap(), None);
        let path = p("s3://billing/exports/**/*.csv.gz");
        assert_eq!((path.scheme, path.bucket.as_str()), (Scheme::S3, "billing"));
        assert_eq!(path.list_prefix(), "exports/");
        assert_eq!(p("gs://b/x*.csv").list_prefix(), "");
        assert_eq!(p("gs://b").key, "");
        assert!(
            RemotePath::parse("s3:///key")
                .unwrap_err()
                .contains("names no bucket")
        );
        assert!(RemotePath::parse("gs://b*/k").is_err());
    }

    #[test]
    fn globs_directories_and_files_select_like_local_paths() {
        let sel = |path: &str| keys(p(path).select(objects(LISTING)).unwrap());
        assert_eq!(sel("s3://b/exports/*.csv"), ["exports/a.csv"]);
        assert_eq!(
            sel("s3://b/exports/**/*.csv.gz"),
            ["exports/2024/09/c.csv.gz", "exports/2024/10/d.csv.gz"]
        );
        assert_eq!(
            sel("s3://b/exports/"),
            ["exports/a.csv", "exports/b.parquet"]
        );
        assert_eq!(
            sel("s3://b/exports"),
            ["exports/a.csv", "exports/b.parquet"]
        );
        assert_eq!(sel("s3://b/exports/a.csv"), ["exports/a.csv"]);
        assert!(sel("s3://b/exports/zzz.csv").is_empty());
    }
}
