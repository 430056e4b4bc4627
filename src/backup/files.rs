//! Backup files: the names the console gives them and the rotation of
//! BACKUP_DIR.
//!
//! A name says when the backup was taken (UTC) and the schema version it
//! holds (its latest migration), so an operator picks one without opening
//! it, and sorts by time: `team-console-20261130T020000Z-schema-20261129000006.dump`.
//! Rotation touches only names of that shape: other files in the folder
//! are the operator's.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const PREFIX: &str = "team-console-";
const SCHEMA: &str = "-schema-";
const SUFFIX: &str = ".dump";
const STAMP: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The name of a backup taken at `taken_at` holding schema `version`.
pub fn name(taken_at: OffsetDateTime, version: &str) -> String {
    format!("{PREFIX}{}{SCHEMA}{version}{SUFFIX}", stamp(taken_at))
}

/// The name a backup is written under until it is complete: hidden, and
/// not of the shape rotation counts.
pub fn partial_name(final_name: &str) -> String {
    format!(".{final_name}.partial")
}

/// `taken_at` as names write it (UTC, to the second).
pub fn stamp(taken_at: OffsetDateTime) -> String {
    taken_at
        .to_offset(time::UtcOffset::UTC)
        .format(STAMP)
        .expect("a UTC time formats")
}

/// Whether `file_name` is a backup the console named.
pub fn is_backup(file_name: &str) -> bool {
    let Some(rest) = file_name
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let Some((stamp, version)) = rest.split_once(SCHEMA) else {
        return false;
    };
    time::PrimitiveDateTime::parse(stamp, STAMP).is_ok()
        && !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit())
}

/// The backups in `dir`, oldest first (names sort by time).
pub fn backups_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_str().is_some_and(is_backup))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Deletes all but the newest `keep` backups in `dir`; returns what it
/// deleted.
pub fn rotate(dir: &Path, keep: usize) -> io::Result<Vec<PathBuf>> {
    let found = backups_in(dir)?;
    let surplus = found.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for path in found.into_iter().take(surplus) {
        fs::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_carry_the_time_and_the_schema_and_are_recognised() {
        let name = name(datetime!(2026-11-30 02:00:05 +01:00), "20261129000006");
        assert_eq!(
            name,
            "team-console-20261130T010005Z-schema-20261129000006.dump"
        );
        assert!(is_backup(&name));
        for other in [
            "notes.txt",
            "team-console-latest.dump",
            "team-console-20261130T010005Z-schema-.dump",
            ".team-console-20261130T010005Z-schema-20261129000006.dump.partial",
        ] {
            assert!(!is_backup(other), "{other}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest_and_leaves_other_files_alone() {
        let dir = std::env::temp_dir().join(format!("tc-rotate-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = (0..4)
            .map(|i| {
                let at = datetime!(2026-11-30 00:00 UTC) + time::Duration::hours(i);
                name(at, "20261129000006")
            })
            .collect();
        for file in names.iter().map(String::as_str).chain(["mine.dump"]) {
            fs::write(dir.join(file), b"x").unwrap();
        }

        let removed = rotate(&dir, 2).unwrap();

        assert_eq!(removed, [dir.join(&names[0]), dir.join(&names[1])]);
        assert_eq!(
            backups_in(&dir).unwrap(),
            [dir.join(&names[2]), dir.join(&names[3])]
        );
        assert!(dir.join("mine.dump").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
