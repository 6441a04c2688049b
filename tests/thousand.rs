//! The 1,000-task project the count tests (`counts.rs`) and the allocation test
//! (`allocations.rs`, a binary of its own that includes this file by path) build:
//! ten layers of a hundred tasks, each reading its source and an output of the layer
//! before (the shape of `bench/gen.py`).

/// How many tasks.
pub(crate) const TASKS: usize = 1000;

/// Its tasks.toml.
pub(crate) fn tasks_toml() -> String {
    let mut toml = String::new();
    for i in 0..TASKS {
        let before = (i >= 100).then(|| format!("out/t{}.txt", i - 100));
        let input = before
            .as_ref()
            .map(|p| format!(", \"{p}\""))
            .unwrap_or_default();
        let read = before.map(|p| format!(" {p}")).unwrap_or_default();
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [\"src/t{i}.txt\"{input}]\noutputs = [\"out/t{i}.txt\"]\n\
             run = \"cat src/t{i}.txt{read} > out/t{i}.txt\"\n",
        ));
    }
    toml
}

/// Its sources: `(path, text)`.
pub(crate) fn sources() -> impl Iterator<Item = (String, String)> {
    (0..TASKS).map(|i| (format!("src/t{i}.txt"), format!("source {i}\n")))
}
