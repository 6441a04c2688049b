//! The longest path through a dependency graph: one routine for the three places that
//! need it. The scheduler ranks ready tasks by the longest path still ahead of them
//! (the same walk over the graph turned around), `conduct plan` finds the chain that
//! sets the makespan, and `conduct report` the chain that ended a recorded run.

/// Finish times along a graph and, for each node, the prerequisite that finished last.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Longest {
    /// By node: when it finishes (0 for nodes not visited).
    pub(crate) finish: Vec<f64>,
    /// By node: its prerequisite that finishes last (the first of them on a tie).
    pub(crate) last: Vec<Option<usize>>,
}

/// Walk `order` (every node after its prerequisites): a node finishes `weight(node)`
/// after the last of its prerequisites finishes.
pub(crate) fn longest<P: IntoIterator<Item = usize>>(
    count: usize,
    order: impl IntoIterator<Item = usize>,
    prerequisites: impl Fn(usize) -> P,
    weight: impl Fn(usize) -> f64,
) -> Longest {
    let mut longest = Longest {
        finish: vec![0.0; count],
        last: vec![None; count],
    };
    for node in order {
        let last = last_of(&longest.finish, prerequisites(node));
        let start = last.map_or(0.0, |l| longest.finish[l]);
        longest.finish[node] = start + weight(node);
        longest.last[node] = last;
    }
    longest
}

/// Of `candidates`, the one whose `finish` is largest (the first of them on a tie).
pub(crate) fn last_of(
    finish: &[f64],
    candidates: impl IntoIterator<Item = usize>,
) -> Option<usize> {
    candidates.into_iter().fold(None, |best, node| match best {
        Some(b) if finish[b] >= finish[node] => Some(b),
        _ => Some(node),
    })
}

impl Longest {
    /// The chain that ends at `end`, first node first: back from it through each
    /// node's last prerequisite.
    pub(crate) fn chain(&self, end: Option<usize>) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut at = end;
        while let Some(node) = at {
            chain.push(node);
            at = self.last[node];
        }
        chain.reverse();
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_chain_is_found_and_ties_go_to_the_first() {
        // 0 -> 2, 1 -> 2, 2 -> 3; weights 1, 5, 1, 1.
        let deps: [&[usize]; 4] = [&[], &[], &[0, 1], &[2]];
        let weights = [1.0, 5.0, 1.0, 1.0];
        let l = longest(4, 0..4, |n| deps[n].iter().copied(), |n| weights[n]);
        assert_eq!(l.finish, [1.0, 5.0, 6.0, 7.0]);
        assert_eq!(l.chain(Some(3)), [1, 2, 3]);
        assert_eq!(last_of(&[2.0, 2.0, 1.0], [0, 1, 2]), Some(0));
        assert_eq!(last_of(&l.finish, []), None);
    }
}
