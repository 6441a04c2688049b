//! The keys of where a task runs (issue 17): `executor`, `cpus`, `mem`, `gpus` on a
//! task, a group or a template, `executor` in `[project]`, and the `[slurm]` table.

use toml::de::DeTable;

use crate::spec::error::SpecErrorKind;
use crate::spec::placement::{ExecutorKind, Placement, SlurmSettings, is_mem};
use crate::spec::reader::{Reader, Value};

/// The keys of `[slurm]`.
pub(super) const SLURM_KEYS: &[&str] = &[
    "partition",
    "account",
    "qos",
    "extra_args",
    "poll",
    "latency_wait",
];

impl Reader<'_> {
    /// Read `key` into `placement` if it is one of its keys; `false` if it is not.
    pub(super) fn placement_key(
        &mut self,
        key: &str,
        value: &Value<'_>,
        placement: &mut Placement,
    ) -> bool {
        match key {
            "executor" => placement.executor = self.executor(value),
            "cpus" => {
                placement.cpus = self
                    .integer("cpus", value, 1, 100_000)
                    .and_then(|n| u32::try_from(n).ok());
            }
            "gpus" => {
                placement.gpus = self
                    .integer("gpus", value, 0, 10_000)
                    .and_then(|n| u32::try_from(n).ok());
            }
            "mem" => {
                placement.mem = self.string("mem", value).and_then(|text| {
                    if is_mem(&text) {
                        Some(text)
                    } else {
                        self.err(value.span(), SpecErrorKind::BadMemory { text });
                        None
                    }
                });
            }
            _ => return false,
        }
        true
    }

    pub(super) fn executor(&mut self, value: &Value<'_>) -> Option<ExecutorKind> {
        self.choice("executor", value, ExecutorKind::NAMES, ExecutorKind::parse)
    }

    /// `[slurm]`.
    pub(super) fn slurm_table(&mut self, table: &DeTable<'_>) -> SlurmSettings {
        let mut slurm = SlurmSettings::default();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "partition" => slurm.partition = self.non_empty_string("partition", value),
                "account" => slurm.account = self.non_empty_string("account", value),
                "qos" => slurm.qos = self.non_empty_string("qos", value),
                "extra_args" => {
                    slurm.extra_args = self
                        .named_list("extra_args", value)
                        .into_iter()
                        .map(|named| named.text)
                        .collect();
                }
                "poll" => {
                    if let Some(every) = self.duration("poll", value) {
                        slurm.poll = every;
                    }
                }
                "latency_wait" => {
                    if let Some(wait) = self.duration("latency_wait", value) {
                        slurm.latency_wait = wait;
                    }
                }
                _ => self.unknown_key(key, "[slurm]", SLURM_KEYS),
            }
        }
        slurm
    }
}
