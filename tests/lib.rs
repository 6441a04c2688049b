//! The one integration-test binary (just's layout): every file drives the real `conduct`
//! binary on temporary projects through the `Test` builder in `test.rs`.

mod servers;
mod slurm_cluster;
mod test;
mod thousand;

mod agents;
mod agents_real;
mod build;
mod cache;
mod checks;
mod cli;
mod commands;
mod config;
mod counts;
mod depfile;
mod edits;
mod everyday;
mod example;
mod explain;
mod fuzz;
mod graph;
mod import;
mod logs;
mod merge_queue;
mod output;
mod plan;
mod ready;
mod remote;
mod remote_backends;
mod remote_scenarios;
mod report;
mod rules;
mod safety;
mod sections;
mod slurm;
mod streams;
mod templates;
mod tour;
mod watch;
mod worktree;
