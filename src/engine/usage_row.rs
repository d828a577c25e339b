//! What a well-formed usage row is: rated with a charge and no hold reason,
//! or held with a reason and no charge; an event id of 1 to 200 characters,
//! if any; attributes that are a JSON object. usage's one CHECK constraint
//! asks this (see `usage_check.rs` for why it is not written in SQL).

use std::fmt;

/// The longest event id, in characters: always small enough for the unique
/// index on (account_id, event_id), so a retry is recognised whatever its
/// length.
pub const MAX_EVENT_ID_CHARACTERS: usize = 200;

/// The parts of a row the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct UsageRowShape<'a> {
    pub status: &'a str,
    pub has_charge: bool,
    pub has_hold_reason: bool,
    /// The event id's length in characters, if it has one.
    pub event_id_characters: Option<usize>,
    pub attributes_are_an_object: bool,
}

/// The rule a row breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedUsage {
    UnknownStatus(String),
    RatedWithoutCharge,
    RatedWithHoldReason,
    HeldWithCharge,
    HeldWithoutHoldReason,
    EventIdLength(usize),
    AttributesNotAnObject,
}

/// Checks a row against the rules, the outcome first.
pub fn check_usage_row(row: UsageRowShape<'_>) -> Result<(), MalformedUsage> {
    match row.status {
        "rated" if !row.has_charge => return Err(MalformedUsage::RatedWithoutCharge),
        "rated" if row.has_hold_reason => return Err(MalformedUsage::RatedWithHoldReason),
        "held" if row.has_charge => return Err(MalformedUsage::HeldWithCharge),
        "held" if !row.has_hold_reason => return Err(MalformedUsage::HeldWithoutHoldReason),
        "rated" | "held" => {}
        other => return Err(MalformedUsage::UnknownStatus(other.to_string())),
    }
    match row.event_id_characters {
        Some(length) if !(1..=MAX_EVENT_ID_CHARACTERS).contains(&length) => {
            return Err(MalformedUsage::EventIdLength(length));
        }
        _ => {}
    }
    if !row.attributes_are_an_object {
        return Err(MalformedUsage::AttributesNotAnObject);
    }
    Ok(())
}

impl fmt::Display for MalformedUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedUsage::UnknownStatus(status) => write!(
                f,
                "status \"{}\" is neither rated nor held",
                super::shown(status)
            ),
            MalformedUsage::RatedWithoutCharge => f.write_str("a rated row needs a charge"),
            MalformedUsage::RatedWithHoldReason => f.write_str("a rated row has no hold reason"),
            MalformedUsage::HeldWithCharge => f.write_str("a held row has no charge"),
            MalformedUsage::HeldWithoutHoldReason => f.write_str("a held row needs a hold reason"),
            MalformedUsage::EventIdLength(length) => write!(
                f,
                "event_id has {length} characters, not 1 to {MAX_EVENT_ID_CHARACTERS}"
            ),
            MalformedUsage::AttributesNotAnObject => {
                f.write_str("attributes must be a JSON object")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_usage_row, MalformedUsage, UsageRowShape};

    fn row(status: &str, has_charge: bool, has_hold_reason: bool) -> UsageRowShape<'_> {
        UsageRowShape {
            status,
            has_charge,
            has_hold_reason,
            event_id_characters: None,
            attributes_are_an_object: true,
        }
    }

    #[test]
    fn only_a_rated_row_with_a_charge_or_a_held_row_with_a_reason_records_its_outcome() {
        use MalformedUsage::*;
        // (status, has_charge, has_hold_reason, verdict)
        let cases = [
            ("rated", true, false, Ok(())),
            ("rated", false, false, Err(RatedWithoutCharge)),
            ("rated", true, true, Err(RatedWithHoldReason)),
            ("rated", false, true, Err(RatedWithoutCharge)),
            ("held", false, true, Ok(())),
            ("held", true, true, Err(HeldWithCharge)),
            ("held", false, false, Err(HeldWithoutHoldReason)),
            ("held", true, false, Err(HeldWithCharge)),
            ("Rated", true, false, Err(UnknownStatus("Rated".into()))),
            ("", true, false, Err(UnknownStatus(String::new()))),
            ("rated ", true, false, Err(UnknownStatus("rated ".into()))),
        ];
        for (status, has_charge, has_hold_reason, verdict) in cases {
            assert_eq!(
                check_usage_row(row(status, has_charge, has_hold_reason)),
                verdict,
                "{status:?} charge {has_charge} reason {has_hold_reason}"
            );
        }
    }

    #[test]
    fn an_event_id_has_one_to_two_hundred_characters() {
        // (characters, allowed)
        let cases = [
            (None, true),
            (Some(0), false),
            (Some(1), true),
            (Some(200), true),
            (Some(201), false),
        ];
        for (event_id_characters, allowed) in cases {
            let shape = UsageRowShape {
                event_id_characters,
                ..row("rated", true, false)
            };
            let expected = match event_id_characters {
                Some(length) if !allowed => Err(MalformedUsage::EventIdLength(length)),
                _ => Ok(()),
            };
            assert_eq!(check_usage_row(shape), expected, "{event_id_characters:?}");
        }
    }

    #[test]
    fn attributes_are_an_object() {
        let shape = UsageRowShape {
            attributes_are_an_object: false,
            ..row("held", false, true)
        };
        assert_eq!(
            check_usage_row(shape),
            Err(MalformedUsage::AttributesNotAnObject)
        );
    }

    #[test]
    fn the_outcome_is_reported_before_the_other_rules() {
        let shape = UsageRowShape {
            event_id_characters: Some(0),
            attributes_are_an_object: false,
            ..row("held", true, true)
        };
        assert_eq!(check_usage_row(shape), Err(MalformedUsage::HeldWithCharge));
    }

    #[test]
    fn each_rule_reads_as_a_sentence() {
        let cases = [
            (
                MalformedUsage::UnknownStatus("priced".into()),
                "status \"priced\" is neither rated nor held",
            ),
            (
                MalformedUsage::RatedWithoutCharge,
                "a rated row needs a charge",
            ),
            (
                MalformedUsage::HeldWithoutHoldReason,
                "a held row needs a hold reason",
            ),
            (
                MalformedUsage::EventIdLength(201),
                "event_id has 201 characters, not 1 to 200",
            ),
            (
                MalformedUsage::AttributesNotAnObject,
                "attributes must be a JSON object",
            ),
        ];
        for (broken, text) in cases {
            assert_eq!(broken.to_string(), text);
        }
    }
}
