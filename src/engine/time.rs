//! Instants and effective periods, in PostgreSQL's own representation
//! (microseconds since 2000-01-01 00:00 UTC) so no conversion is lossy.

/// A point in time: microseconds since 2000-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A half-open interval `[from, to)`; `to = None` means open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Option<Timestamp>,
}

impl Period {
    pub fn new(from: Timestamp, to: Option<Timestamp>) -> Self {
        Period { from, to }
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && self.to.is_none_or(|to| at < to)
    }

    pub fn is_empty(&self) -> bool {
        self.to.is_some_and(|to| to <= self.from)
    }

    pub fn overlaps(&self, other: &Period) -> bool {
        let starts_before_other_ends = other.to.is_none_or(|to| self.from < to);
        let other_starts_before_self_ends = self.to.is_none_or(|to| other.from < to);
        starts_before_other_ends && other_starts_before_self_ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(from: i64, to: Option<i64>) -> Period {
        Period::new(Timestamp(from), to.map(Timestamp))
    }

    #[test]
    fn contains_is_half_open() {
        let period = p(10, Some(20));
        assert!(!period.contains(Timestamp(9)));
        assert!(period.contains(Timestamp(10)));
        assert!(period.contains(Timestamp(19)));
        assert!(!period.contains(Timestamp(20)));
        assert!(p(10, None).contains(Timestamp(i64::MAX)));
    }

    #[test]
    fn overlap_cases() {
        let cases = [
            (p(0, Some(10)), p(10, Some(20)), false),
            (p(0, Some(11)), p(10, Some(20)), true),
            (p(0, None), p(100, Some(200)), true),
            (p(0, Some(5)), p(6, None), false),
            (p(7, None), p(6, None), true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.overlaps(&b), expected, "{a:?} vs {b:?}");
            assert_eq!(b.overlaps(&a), expected, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn empty_period() {
        assert!(p(5, Some(5)).is_empty());
        assert!(p(5, Some(4)).is_empty());
        assert!(!p(5, Some(6)).is_empty());
        assert!(!p(5, None).is_empty());
    }
}
