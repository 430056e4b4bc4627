//! One console per data folder. The console holds an exclusive advisory
//! lock (flock) on `DATA_DIR/console.lock` for as long as it runs; the
//! kernel releases it when the process ends, however it ends. A second
//! console on the same folder refuses at once and touches nothing, so it
//! can never take over (and later stop) the first one's PostgreSQL.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "the data folder {dir} is in use by another Team Console (pid {pid}); stop it, or give this one another DATA_DIR (or set DATABASE_URL to share a PostgreSQL server between consoles)"
    )]
    InUse { dir: PathBuf, pid: String },
    #[error("cannot lock the data folder {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

/// Whether a running console holds `dir`.
pub fn in_use(dir: &Path) -> bool {
    matches!(lock(dir), Err(DataDirError::InUse { .. }))
}

/// Locks `dir` for this process, or says who holds it.
pub fn lock(dir: &Path) -> Result<DataDirLock, DataDirError> {
    let io = |source| DataDirError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("console.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(DataDirError::InUse {
                dir: dir.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        Err((_, errno)) => return Err(io(errno.into())),
    };
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(DataDirLock { _file: file })
}
