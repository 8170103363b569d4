//! Argument groups shared by several roles, each with an environment fallback. No globals: every
//! role receives its settings as a value.

use std::time::Duration;

use clap::Args;

/// Where the articles live.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The database: a SQLite file (a path, or a `sqlite://` URL; created and migrated if
    /// missing), or a PostgreSQL database (`postgres://user:password@host:5432/name?sslmode=require`;
    /// libpq takes what the URL leaves out, the password too, from PGPASSWORD, PGHOST, ... and
    /// ~/.pgpass; migrated at start)
    #[arg(
        long = "database",
        env = "DATABASE_URL",
        default_value = "articles.db",
        value_name = "PATH_OR_URL"
    )]
    pub database: String,
}

impl DatabaseArgs {
    /// The SQLite file this names (roles that only know SQLite files).
    pub fn path(&self) -> std::path::PathBuf {
        crate::db::database_path(&self.database)
    }

    /// The store this names.
    pub fn location(&self) -> crate::db::Location {
        crate::db::Location::parse(&self.database)
    }
}

/// Parses `5s`, `250ms`, `1h 30m` (humantime).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e} (examples: 500ms, 5s, 24h)"))
}

/// Parses a byte size: `1048576`, `512KiB`, `1MiB`, `64MiB`.
pub fn parse_bytes(raw: &str) -> Result<usize, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a size (examples: 1048576, 512KiB, 64MiB)"))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}' (use B, KiB, MiB or GiB)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("'{raw}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("soon").is_err());
    }
}
