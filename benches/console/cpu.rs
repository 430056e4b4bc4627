//! CPU time of the console (this process: it serves in-process) and of
//! PostgreSQL (the cluster's postmaster and its children, the console's
//! pooled backends among them), read from /proc around a load run: what a
//! page costs each side, whatever the machine's other load (issue 19).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Linux reports process times in USER_HZ ticks, 100 a second on every
/// architecture it exports /proc for.
const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub console: Duration,
    pub database: Duration,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, before: Cpu) -> Cpu {
        Cpu {
            console: self.console.saturating_sub(before.console),
            database: self.database.saturating_sub(before.database),
        }
    }
}

/// Reads /proc: this process, and the processes of the cluster whose
/// data folder is `data_dir`. A backend that exits meanwhile takes its
/// time with it; the console's pooled connections do not exit.
pub fn sample(data_dir: &Path) -> Cpu {
    let console = times(Path::new("/proc/self/stat")).map_or(0, |(_, t)| t);
    let postmaster = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|pid| pid.lines().next()?.trim().parse::<u32>().ok());
    let mut database = 0;
    if let (Some(postmaster), Ok(entries)) = (postmaster, std::fs::read_dir("/proc")) {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat: PathBuf = entry.path().join("stat");
            if let Some((ppid, ticks)) = times(&stat)
                && (pid == postmaster || ppid == postmaster)
            {
                database += ticks;
            }
        }
    }
    Cpu {
        console: TICK * console as u32,
        database: TICK * database as u32,
    }
}

/// A process's parent and its user + system time in ticks, from its
/// `stat` (fields after the command name, which may hold spaces).
fn times(stat: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(stat).ok()?;
    let fields: Vec<&str> = text.rsplit_once(") ")?.1.split(' ').collect();
    // Field 4 is the parent; 14 and 15 user and system time (1-based,
    // counting the pid and the command before the split).
    let ppid = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, user + system))
}
