//! Destination prefixes as a trie over their bytes: the longest prefix of a
//! number that holds an acceptable value is found with one walk down and at
//! most one back up, without hashing or allocating.

/// No value at this node.
const NONE: u32 = u32::MAX;

/// 16 bytes, and a node's edges lie side by side: a walk down 10,000
/// prefixes stays in a few hundred kilobytes of cache-friendly arrays.
#[derive(Debug, Clone, Copy)]
struct Node {
    parent: u32,
    first_edge: u32,
    edge_count: u32,
    value: u32,
}

#[derive(Debug)]
pub struct PrefixTrie<T> {
    /// The root, the empty prefix, is node 0.
    nodes: Vec<Node>,
    /// (next byte, node index); a handful per node (digits), so scanned.
    edges: Vec<(u8, u32)>,
    values: Vec<T>,
}

impl<T> FromIterator<(String, T)> for PrefixTrie<T> {
    /// Built from distinct prefixes (a later duplicate would replace an
    /// earlier one's value).
    fn from_iter<I: IntoIterator<Item = (String, T)>>(entries: I) -> Self {
        // A tree with a list of children per node first ...
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut parents = vec![0u32];
        let mut value_at = vec![NONE];
        let mut values = Vec::new();
        for (prefix, value) in entries {
            let mut at = 0;
            for &byte in prefix.as_bytes() {
                at = match children[at].iter().find(|(b, _)| *b == byte) {
                    Some(&(_, child)) => child as usize,
                    None => {
                        let child = children.len();
                        children.push(Vec::new());
                        parents.push(at as u32);
                        value_at.push(NONE);
                        children[at].push((byte, child as u32));
                        child
                    }
                };
            }
            value_at[at] = values.len() as u32;
            values.push(value);
        }
        // ... then those lists laid end to end.
        let mut edges = Vec::new();
        let nodes = children
            .iter()
            .zip(parents.iter().zip(&value_at))
            .map(|(own, (&parent, &value))| {
                let first_edge = edges.len() as u32;
                edges.extend_from_slice(own);
                Node {
                    parent,
                    first_edge,
                    edge_count: own.len() as u32,
                    value,
                }
            })
            .collect();
        PrefixTrie {
            nodes,
            edges,
            values,
        }
    }
}

impl<T> PrefixTrie<T> {
    fn child(&self, node: Node, byte: u8) -> Option<usize> {
        let first = node.first_edge as usize;
        self.edges[first..first + node.edge_count as usize]
            .iter()
            .find(|(b, _)| *b == byte)
            .map(|&(_, child)| child as usize)
    }

    /// Of the prefixes of `key` that hold a value, from the longest down,
    /// the first for which `pick` answers something.
    pub fn longest<'a, R>(
        &'a self,
        key: &str,
        mut pick: impl FnMut(&'a T) -> Option<R>,
    ) -> Option<R> {
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
                if let Some(found) = pick(&self.values[node.value as usize]) {
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

    fn trie(prefixes: &[&str]) -> PrefixTrie<String> {
        prefixes
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn the_longest_accepted_prefix_wins() {
        let t = trie(&["", "4", "44", "447", "4420", "33"]);
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
            assert_eq!(t.longest(key, |v| Some(v.as_str())), expected, "{key}");
        }
    }

    #[test]
    fn a_refused_prefix_falls_back_to_a_shorter_one() {
        let t = trie(&["", "44", "4420"]);
        // "4420" refused: the walk goes back up past "442" (no value) to "44".
        let not_4420 = |v: &String| (v != "4420").then(|| v.clone());
        assert_eq!(t.longest("442079", not_4420).as_deref(), Some("44"));
        assert_eq!(t.longest("442079", |_: &String| None::<()>), None);
        assert_eq!(trie(&["44"]).longest("33", |v| Some(v.clone())), None);
    }

    #[test]
    fn multibyte_prefixes_match_whole_characters() {
        let t = trie(&["€", "€4"]);
        assert_eq!(t.longest("€45", |v| Some(v.as_str())), Some("€4"));
        assert_eq!(t.longest("€", |v| Some(v.as_str())), Some("€"));
        // The first byte of "€" alone is no prefix with a value.
        assert_eq!(t.longest("\u{20ad}", |v| Some(v.as_str())), None);
    }
}
