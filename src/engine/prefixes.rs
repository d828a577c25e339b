//! Destination prefixes as a trie over their bytes: the longest prefix of a
//! number that holds an acceptable value is found with one walk down and at
//! most one back up, without hashing or allocating.
//!
//! A lookup on a large tariff is bound by cache misses, not by instructions,
//! so the layout is what matters: nodes are numbered breadth first, which
//! puts a node's children side by side, and the bytes that label them lie in
//! a separate array, so choosing a child reads one short run of bytes and then
//! that child's 16-byte node. The value is an index the caller keeps its own
//! data by, held in the node itself.

use std::collections::VecDeque;

/// No value at this node.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    parent: u32,
    first_child: u32,
    children: u32,
    value: u32,
}

#[derive(Debug)]
pub struct PrefixTrie {
    /// Breadth first: the root, the empty prefix, is node 0, and the children
    /// of a node are `first_child .. first_child + children`.
    nodes: Vec<Node>,
    /// The byte on the edge into each node (the root's is unused).
    labels: Vec<u8>,
}

impl FromIterator<(String, u32)> for PrefixTrie {
    /// Built from distinct prefixes (a later duplicate would replace an
    /// earlier one's value); a value must not be `u32::MAX`.
    fn from_iter<I: IntoIterator<Item = (String, u32)>>(entries: I) -> Self {
        // A tree with a list of children per node first, numbered as built ...
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut value_at = vec![NONE];
        for (prefix, value) in entries {
            debug_assert_ne!(value, NONE);
            let mut at = 0;
            for &byte in prefix.as_bytes() {
                at = match children[at].iter().find(|(b, _)| *b == byte) {
                    Some(&(_, child)) => child as usize,
                    None => {
                        let child = children.len();
                        children.push(Vec::new());
                        value_at.push(NONE);
                        children[at].push((byte, child as u32));
                        child
                    }
                };
            }
            value_at[at] = value;
        }
        // ... then renumbered breadth first.
        let mut nodes = Vec::with_capacity(children.len());
        let mut labels = Vec::with_capacity(children.len());
        let mut queue = VecDeque::from([(0u32, 0u8, 0u32)]);
        while let Some((built, label, parent)) = queue.pop_front() {
            let own = &children[built as usize];
            let first_child = (nodes.len() + queue.len() + 1) as u32;
            let this = nodes.len() as u32;
            queue.extend(own.iter().map(|&(byte, child)| (child, byte, this)));
            nodes.push(Node {
                parent,
                first_child,
                children: own.len() as u32,
                value: value_at[built as usize],
            });
            labels.push(label);
        }
        PrefixTrie { nodes, labels }
    }
}

impl PrefixTrie {
    fn child(&self, node: Node, byte: u8) -> Option<usize> {
        let first = node.first_child as usize;
        self.labels[first..first + node.children as usize]
            .iter()
            .position(|&b| b == byte)
            .map(|i| first + i)
    }

    /// Of the prefixes of `key` that hold a value, from the longest down,
    /// the first for which `pick` answers something.
    pub fn longest<R>(&self, key: &str, mut pick: impl FnMut(u32) -> Option<R>) -> Option<R> {
        let mut at = 0;
        for &byte in key.as_bytes() {
            match self.child(self.nodes[at], byte) {
                Some(child) => at = child,
                None => break,
            }
        }
        loop {
            let node = self.nodes[at];
            if node.value != NONE {
                if let Some(found) = pick(node.value) {
                    return Some(found);
                }
            }
            if at == 0 {
                return None;
            }
            at = node.parent as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The trie of `prefixes` and a lookup answering the prefix found.
    fn trie<'a>(prefixes: &'a [&'a str]) -> impl Fn(&str) -> Option<&'a str> {
        let trie: PrefixTrie = (0..)
            .zip(prefixes)
            .map(|(i, p)| (p.to_string(), i))
            .collect();
        move |key| trie.longest(key, |i| Some(prefixes[i as usize]))
    }

    #[test]
    fn the_longest_accepted_prefix_wins() {
        let longest = trie(&["", "4", "44", "447", "4420", "33"]);
        let cases = [
            ("447700900123", Some("447")),
            ("442079460000", Some("4420")),
            ("4412", Some("44")),
            ("49", Some("4")),
            ("33123", Some("33")),
            ("1", Some("")),
            ("", Some("")),
            ("4€4", Some("4")),
        ];
        for (key, expected) in cases {
            assert_eq!(longest(key), expected, "{key}");
        }
    }

    #[test]
    fn a_refused_prefix_falls_back_to_a_shorter_one() {
        let prefixes = ["", "44", "4420"];
        let t: PrefixTrie = (0..).zip(prefixes).map(|(i, p)| (p.into(), i)).collect();
        // "4420" refused: the walk goes back up past "442" (no value) to "44".
        let not_4420 = |i: u32| (prefixes[i as usize] != "4420").then_some(prefixes[i as usize]);
        assert_eq!(t.longest("442079", not_4420), Some("44"));
        assert_eq!(t.longest("442079", |_| None::<()>), None);
        assert_eq!(trie(&["44"])("33"), None);
    }

    #[test]
    fn multibyte_prefixes_match_whole_characters() {
        let longest = trie(&["€", "€4"]);
        assert_eq!(longest("€45"), Some("€4"));
        assert_eq!(longest("€"), Some("€"));
        // The first byte of "€" alone is no prefix with a value.
        assert_eq!(longest("\u{20ad}"), None);
    }

    #[test]
    fn a_dense_numbering_plan_agrees_with_a_hash_of_every_length() {
        // 10,000 four- and five-digit prefixes, as the benchmark's tariff:
        // the breadth-first numbering must keep every parent and child link.
        let prefixes: Vec<String> = (1000..11000).map(|p| p.to_string()).collect();
        let t: PrefixTrie = (0..).zip(&prefixes).map(|(i, p)| (p.clone(), i)).collect();
        let listed: HashSet<&str> = prefixes.iter().map(String::as_str).collect();
        for number in (0..200_000u64).map(|g| format!("{}", g * 7919 % 1_100_000)) {
            let hashed = (0..=number.len())
                .rev()
                .map(|len| &number[..len])
                .find(|candidate| listed.contains(candidate));
            let found = t.longest(&number, |v| Some(prefixes[v as usize].as_str()));
            assert_eq!(found, hashed, "{number}");
        }
    }
}
