//! What a usage row records of its rating: rated with a charge and no hold
//! reason, or held with a reason and no charge. usage's CHECK constraint
//! asks this (see `usage_check.rs` for why it is not written in SQL).

/// Whether a usage row of `status`, with or without a charge and a hold
/// reason, records its outcome as the two statuses require.
pub fn outcome_is_recorded(status: &str, has_charge: bool, has_hold_reason: bool) -> bool {
    match status {
        "rated" => has_charge && !has_hold_reason,
        "held" => !has_charge && has_hold_reason,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::outcome_is_recorded;

    #[test]
    fn only_a_rated_row_with_a_charge_or_a_held_row_with_a_reason_is_recorded() {
        // (status, has_charge, has_hold_reason, recorded)
        let cases = [
            ("rated", true, false, true),
            ("rated", false, false, false),
            ("rated", true, true, false),
            ("rated", false, true, false),
            ("held", false, true, true),
            ("held", true, true, false),
            ("held", false, false, false),
            ("held", true, false, false),
            ("Rated", true, false, false),
            ("", true, false, false),
            ("rated ", true, false, false),
        ];
        for (status, has_charge, has_hold_reason, recorded) in cases {
            assert_eq!(
                outcome_is_recorded(status, has_charge, has_hold_reason),
                recorded,
                "{status:?} charge {has_charge} reason {has_hold_reason}"
            );
        }
    }
}
