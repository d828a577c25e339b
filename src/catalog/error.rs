use crate::engine::TariffError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    UnknownAccount(i64),
    UnknownTariff(i64),
    /// A stored tariff that the engine refuses; write-time validation should
    /// make this impossible, so it is reported rather than priced around.
    InvalidTariff {
        tariff_id: i64,
        error: TariffError,
    },
    /// SPI returned something the schema says it cannot: a bug.
    Internal(String),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::UnknownAccount(id) => write!(f, "account {id} does not exist"),
            CatalogError::UnknownTariff(id) => write!(f, "tariff {id} does not exist"),
            CatalogError::InvalidTariff { tariff_id, error } => {
                write!(f, "tariff {tariff_id} is invalid: {error}")
            }
            CatalogError::Internal(what) => write!(f, "pg_rating catalog read failed: {what}"),
        }
    }
}

impl From<pgrx::spi::SpiError> for CatalogError {
    fn from(error: pgrx::spi::SpiError) -> Self {
        CatalogError::Internal(error.to_string())
    }
}
