//! Where the benchmark's processes run. `shared`: PostgreSQL, the console,
//! wrk and pgbench share every core, so whatever CPU the console spends is
//! taken from the database. `split`: PostgreSQL gets the first half of the
//! cores and everything else the rest, as when the database has a machine
//! (or cores) of its own: then "req/s ÷ the SQL's tps" says whether the
//! console keeps up with its database rather than how their CPU costs
//! compare. Processes inherit the placement of the thread that starts them.

use anyhow::{Context, bail};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cores {
    /// Every process on every core.
    Shared,
    /// PostgreSQL on the first half of the cores, the console, wrk and
    /// pgbench on the others.
    Split,
}

pub struct Placement {
    database: CpuSet,
    rest: CpuSet,
    pub description: String,
}

impl Placement {
    pub fn new(cores: Cores) -> anyhow::Result<Placement> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let set = |cpus: std::ops::Range<usize>| -> anyhow::Result<CpuSet> {
            let mut set = CpuSet::new();
            for cpu in cpus {
                set.set(cpu).context("a core number")?;
            }
            Ok(set)
        };
        let all = set(0..n)?;
        Ok(match cores {
            Cores::Shared => Placement {
                database: all,
                rest: all,
                description: format!(
                    "PostgreSQL, the console, wrk and pgbench share all {n} cores"
                ),
            },
            Cores::Split => {
                if n < 2 {
                    bail!("--cores split needs at least 2 cores");
                }
                let half = n / 2;
                Placement {
                    database: set(0..half)?,
                    rest: set(half..n)?,
                    description: format!(
                        "PostgreSQL on {half} of the {n} cores; the console, wrk and pgbench on the other {}",
                        n - half
                    ),
                }
            }
        })
    }

    /// From now on this thread (and what it starts) runs on the
    /// database's cores.
    pub fn enter_database(&self) -> anyhow::Result<()> {
        sched_setaffinity(Pid::from_raw(0), &self.database).context("placing the database")
    }

    /// From now on this thread (and what it starts) runs on the other cores.
    pub fn enter_rest(&self) -> anyhow::Result<()> {
        sched_setaffinity(Pid::from_raw(0), &self.rest).context("placing the console")
    }
}
