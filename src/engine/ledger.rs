//! What a well-formed ledger entry is: its kind, whether it names a usage row
//! and an entry it corrects, and which sign its amount may have. The table's
//! one CHECK constraint asks this (see `ledger_check.rs` for why it is not
//! written in SQL).

use std::fmt;

/// The sign of an entry's amount, as the PostgreSQL layer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountSign {
    Negative,
    Zero,
    Positive,
    /// NaN or ±Infinity: never money.
    NotFinite,
}

/// The parts of an entry the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct EntryShape<'a> {
    pub kind: &'a str,
    pub amount: AmountSign,
    pub names_usage: bool,
    pub corrects_an_entry: bool,
}

/// The rule an entry breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedEntry {
    UnknownKind(String),
    AmountNotFinite,
    /// Charges and reversals name their usage row; nothing else does.
    UsageNamedWrongly {
        kind: &'static str,
        names_usage: bool,
    },
    ReversalCorrectsNothing,
    WrongSign {
        kind: &'static str,
        required: &'static str,
    },
}

/// Which amounts a kind of entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignRule {
    Any,
    Positive,
    Negative,
    NonZero,
}

impl SignRule {
    fn allows(self, sign: AmountSign) -> bool {
        match self {
            SignRule::Any => true,
            SignRule::Positive => sign == AmountSign::Positive,
            SignRule::Negative => sign == AmountSign::Negative,
            SignRule::NonZero => sign != AmountSign::Zero,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SignRule::Any => "any number",
            SignRule::Positive => "positive",
            SignRule::Negative => "negative",
            SignRule::NonZero => "non-zero",
        }
    }
}

const KINDS: [(&str, SignRule); 6] = [
    // Usually negative; a volume tier's credit is positive.
    ("charge", SignRule::Any),
    // The opposite sign of the charge it reverses.
    ("reversal", SignRule::Any),
    ("payment", SignRule::Positive),
    ("credit", SignRule::Positive),
    ("refund", SignRule::Negative),
    ("adjustment", SignRule::NonZero),
];

pub fn check_entry(entry: EntryShape<'_>) -> Result<(), MalformedEntry> {
    let &(kind, sign_rule) = KINDS
        .iter()
        .find(|(known, _)| *known == entry.kind)
        .ok_or_else(|| MalformedEntry::UnknownKind(entry.kind.to_string()))?;
    if entry.amount == AmountSign::NotFinite {
        return Err(MalformedEntry::AmountNotFinite);
    }
    let is_usage_kind = matches!(kind, "charge" | "reversal");
    if is_usage_kind != entry.names_usage {
        return Err(MalformedEntry::UsageNamedWrongly {
            kind,
            names_usage: entry.names_usage,
        });
    }
    if kind == "reversal" && !entry.corrects_an_entry {
        return Err(MalformedEntry::ReversalCorrectsNothing);
    }
    if !sign_rule.allows(entry.amount) {
        return Err(MalformedEntry::WrongSign {
            kind,
            required: sign_rule.name(),
        });
    }
    Ok(())
}

impl fmt::Display for MalformedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedEntry::UnknownKind(kind) => {
                let names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
                let (last, others) = names.split_last().expect("KINDS is not empty");
                write!(
                    f,
                    "unknown kind \"{}\" ({} or {last})",
                    super::shown(kind),
                    others.join(", ")
                )
            }
            MalformedEntry::AmountNotFinite => write!(f, "its amount is not a finite number"),
            MalformedEntry::UsageNamedWrongly {
                kind,
                names_usage: true,
            } => {
                write!(f, "{kind} entries name no usage row, but this one does")
            }
            MalformedEntry::UsageNamedWrongly {
                kind,
                names_usage: false,
            } => {
                write!(
                    f,
                    "{kind} entries name the usage row they are for, but this one names none"
                )
            }
            MalformedEntry::ReversalCorrectsNothing => {
                write!(
                    f,
                    "reversal entries name the entry they correct, but this one names none"
                )
            }
            MalformedEntry::WrongSign { kind, required } => {
                write!(f, "{kind} entries need a {required} amount")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AmountSign::*;
    use super::*;

    fn entry(kind: &str, amount: AmountSign, names_usage: bool, corrects: bool) -> EntryShape<'_> {
        EntryShape {
            kind,
            amount,
            names_usage,
            corrects_an_entry: corrects,
        }
    }

    #[test]
    fn well_formed_entries_pass() {
        for shape in [
            entry("charge", Negative, true, false),
            entry("charge", Positive, true, false),
            entry("charge", Zero, true, false),
            entry("charge", Negative, true, true),
            entry("reversal", Positive, true, true),
            entry("reversal", Negative, true, true),
            entry("payment", Positive, false, false),
            entry("credit", Positive, false, false),
            entry("refund", Negative, false, false),
            entry("adjustment", Negative, false, false),
            entry("adjustment", Positive, false, true),
        ] {
            assert_eq!(check_entry(shape), Ok(()), "{shape:?}");
        }
    }

    #[test]
    fn each_rule_refuses_what_it_should() {
        let wrong_sign = |kind, required| MalformedEntry::WrongSign { kind, required };
        for (shape, expected) in [
            (
                entry("Charge", Negative, true, false),
                MalformedEntry::UnknownKind("Charge".into()),
            ),
            (
                entry("", Zero, false, false),
                MalformedEntry::UnknownKind(String::new()),
            ),
            (
                entry("charge", NotFinite, true, false),
                MalformedEntry::AmountNotFinite,
            ),
            (
                entry("payment", NotFinite, false, false),
                MalformedEntry::AmountNotFinite,
            ),
            (
                entry("charge", Negative, false, false),
                MalformedEntry::UsageNamedWrongly {
                    kind: "charge",
                    names_usage: false,
                },
            ),
            (
                entry("reversal", Positive, false, true),
                MalformedEntry::UsageNamedWrongly {
                    kind: "reversal",
                    names_usage: false,
                },
            ),
            (
                entry("payment", Positive, true, false),
                MalformedEntry::UsageNamedWrongly {
                    kind: "payment",
                    names_usage: true,
                },
            ),
            (
                entry("reversal", Positive, true, false),
                MalformedEntry::ReversalCorrectsNothing,
            ),
            (
                entry("payment", Zero, false, false),
                wrong_sign("payment", "positive"),
            ),
            (
                entry("payment", Negative, false, false),
                wrong_sign("payment", "positive"),
            ),
            (
                entry("credit", Negative, false, false),
                wrong_sign("credit", "positive"),
            ),
            (
                entry("refund", Positive, false, false),
                wrong_sign("refund", "negative"),
            ),
            (
                entry("refund", Zero, false, false),
                wrong_sign("refund", "negative"),
            ),
            (
                entry("adjustment", Zero, false, false),
                wrong_sign("adjustment", "non-zero"),
            ),
        ] {
            assert_eq!(check_entry(shape), Err(expected), "{shape:?}");
        }
    }

    #[test]
    fn messages_name_the_rule_and_the_value() {
        assert_eq!(
            MalformedEntry::UnknownKind("fee".into()).to_string(),
            "unknown kind \"fee\" (charge, reversal, payment, credit, refund or adjustment)"
        );
        assert_eq!(
            check_entry(entry("refund", Positive, false, false))
                .unwrap_err()
                .to_string(),
            "refund entries need a negative amount"
        );
    }
}
