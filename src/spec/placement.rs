//! Where a task's command runs (issue 17): on this machine, or as a job on a Slurm
//! cluster, with the cores, memory and GPUs it asks the cluster for. None of it is part
//! of a task's key: the same command on the same inputs makes the same outputs wherever
//! it runs, so a result built on the cluster restores on a laptop and back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `executor = "local" | "slurm"` (`[project]`, a group, a task, `--executor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

impl ExecutorKind {
    pub(crate) const NAMES: &'static [&'static str] = &["local", "slurm"];

    pub(crate) fn parse(text: &str) -> Option<ExecutorKind> {
        match text {
            "local" => Some(ExecutorKind::Local),
            "slurm" => Some(ExecutorKind::Slurm),
            _ => None,
        }
    }
}

/// A task's (or a group's) placement as written: each field unset falls back to the
/// group's, then the project's (`executor`) or the cluster's default (resources).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Placement {
    pub(crate) executor: Option<ExecutorKind>,
    /// `cpus = 4`: Slurm's `--cpus-per-task`.
    pub(crate) cpus: Option<u32>,
    /// `mem = "4G"`: Slurm's `--mem`, as written (a number and K, M, G or T).
    pub(crate) mem: Option<String>,
    /// `gpus = 1`: Slurm's `--gpus`.
    pub(crate) gpus: Option<u32>,
}

impl Placement {
    /// This placement with every unset field taken from `outer` (a task's group).
    pub(crate) fn or(self, outer: &Placement) -> Placement {
        Placement {
            executor: self.executor.or(outer.executor),
            cpus: self.cpus.or(outer.cpus),
            mem: self.mem.or_else(|| outer.mem.clone()),
            gpus: self.gpus.or(outer.gpus),
        }
    }
}

/// Whether `text` is a memory size Slurm's `--mem` takes: digits, then optionally one
/// of K, M, G, T (megabytes without a unit).
pub(crate) fn is_mem(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    text.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[slurm]`: how jobs are submitted to the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SlurmSettings {
    pub(crate) partition: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) qos: Option<String>,
    /// More `sbatch` arguments, passed as written.
    pub(crate) extra_args: Vec<String>,
    /// How often `squeue` is asked about the build's jobs (one call for all of them).
    pub(crate) poll: Duration,
    /// How long to wait, after a job left the queue, for its status file to be visible
    /// here (a shared file system's attribute cache can lag).
    pub(crate) latency_wait: Duration,
}

impl Default for SlurmSettings {
    fn default() -> SlurmSettings {
        SlurmSettings {
            partition: None,
            account: None,
            qos: None,
            extra_args: Vec::new(),
            poll: Duration::from_millis(500),
            latency_wait: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_are_what_sbatch_takes() {
        for good in ["4G", "512M", "100", "2t"] {
            assert!(is_mem(good), "{good}");
        }
        for bad in ["", "G", "4GB", "4.5G", "-1G", "4 G"] {
            assert!(!is_mem(bad), "{bad}");
        }
    }

    #[test]
    fn a_task_inherits_what_it_leaves_unset() {
        let group = Placement {
            executor: Some(ExecutorKind::Slurm),
            cpus: Some(4),
            mem: Some("8G".into()),
            gpus: None,
        };
        let task = Placement {
            cpus: Some(1),
            ..Placement::default()
        };
        assert_eq!(
            task.or(&group),
            Placement {
                executor: Some(ExecutorKind::Slurm),
                cpus: Some(1),
                mem: Some("8G".into()),
                gpus: None,
            }
        );
    }
}
