//! The pricing models a rate can use; each reads the rate's terms its own way
//! (see `RateTerms` for the formulas).

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PricingModel {
    /// `price` per `per_quantity` units, after first/next increments: 0.09 per
    /// minute, billed 60/1.
    PerUnit,
    /// `price` per started block of `per_quantity` units: 5.00 per started 10 GB.
    Package,
    /// `price` per event, whatever its quantity: 0.05 per API call.
    Flat,
    /// `price` percent of the quantity, which is an amount of money: 2.9 % of
    /// a payment, usually with a minimum and a maximum per event.
    Percentage,
    /// The rate's tiers, each priced on the period's units that fall in it.
    Graduated,
    /// The rate's tiers, the one the period's total reaches pricing all its units.
    Volume,
}

impl PricingModel {
    pub const NAMES: [&'static str; 6] = [
        "per_unit",
        "package",
        "flat",
        "percentage",
        "graduated",
        "volume",
    ];

    pub fn name(self) -> &'static str {
        match self {
            PricingModel::PerUnit => "per_unit",
            PricingModel::Package => "package",
            PricingModel::Flat => "flat",
            PricingModel::Percentage => "percentage",
            PricingModel::Graduated => "graduated",
            PricingModel::Volume => "volume",
        }
    }

    /// Priced by tiers over the billing period's units.
    pub fn is_tiered(self) -> bool {
        matches!(self, PricingModel::Graduated | PricingModel::Volume)
    }

    /// Whether first/next increments mean anything to this model; the others
    /// require them left at 1 so that a rate never says more than it does.
    pub fn uses_increments(self) -> bool {
        matches!(
            self,
            PricingModel::PerUnit | PricingModel::Graduated | PricingModel::Volume
        )
    }

    /// Whether `per_quantity` means anything to this model (the block size of
    /// a package, the unit of a per-unit price).
    pub fn uses_per_quantity(self) -> bool {
        !matches!(self, PricingModel::Flat | PricingModel::Percentage)
    }
}

impl FromStr for PricingModel {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "per_unit" => Ok(PricingModel::PerUnit),
            "package" => Ok(PricingModel::Package),
            "flat" => Ok(PricingModel::Flat),
            "percentage" => Ok(PricingModel::Percentage),
            "graduated" => Ok(PricingModel::Graduated),
            "volume" => Ok(PricingModel::Volume),
            other => Err(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in PricingModel::NAMES {
            assert_eq!(PricingModel::from_str(name).unwrap().name(), name);
        }
        assert_eq!(PricingModel::from_str("tiered"), Err("tiered".to_string()));
    }
}
