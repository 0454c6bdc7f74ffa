//! Cells of a row, whatever the file format, and Parquet columns read as them.
//!
//! File collectors map rows cell by cell so that a bad value is reported with
//! its row and column. Text formats give [`Cell::Text`]; a Parquet column is
//! read once per batch in the shape its type allows ([`ParquetColumn`]), with
//! every time unit (and zone) brought to UTC microseconds the same way.

use polars::prelude::*;

/// One cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    Float(f64),
    /// A timestamp in microseconds since the epoch, UTC.
    Micros(i64),
}

/// A Parquet column in the shape its cells are read from.
pub(crate) enum ParquetColumn {
    Text(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
    Micros(Int64Chunked),
    Missing,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl ParquetColumn {
    /// Strings as text; integers; floats and decimals as floats; timestamps
    /// of any unit, zoned or not (Parquet stores them as UTC instants), and
    /// dates as UTC microseconds; nulls as missing; anything else as its
    /// text.
    pub fn from_column(c: &Column) -> PolarsResult<Self> {
        Ok(match c.dtype() {
            DataType::String => ParquetColumn::Text(c.str()?.rechunk().into_owned()),
            DataType::Datetime(_, _) | DataType::Date => {
                ParquetColumn::Micros(utc_micros(c)?.rechunk().into_owned())
            }
            DataType::Null => ParquetColumn::Missing,
            dt if dt.is_integer() => {
                ParquetColumn::Int(c.cast(&DataType::Int64)?.i64()?.rechunk().into_owned())
            }
            dt if dt.is_float() || dt.is_decimal() => {
                ParquetColumn::Float(c.cast(&DataType::Float64)?.f64()?.rechunk().into_owned())
            }
            _ => ParquetColumn::Text(c.cast(&DataType::String)?.str()?.rechunk().into_owned()),
        })
    }

    pub fn cell(&self, row: usize) -> Cell<'_> {
        match self {
            ParquetColumn::Text(ca) => ca.get(row).map_or(Cell::Null, Cell::Text),
            ParquetColumn::Int(ca) => ca.get(row).map_or(Cell::Null, Cell::Int),
            ParquetColumn::Float(ca) => ca.get(row).map_or(Cell::Null, Cell::Float),
            ParquetColumn::Micros(ca) => ca.get(row).map_or(Cell::Null, Cell::Micros),
            ParquetColumn::Missing => Cell::Null,
        }
    }
}

/// A timestamp column of any unit, zoned or not (Parquet stores instants
/// as UTC, so the physical value is UTC whatever the zone attribute says),
/// or a date column, as UTC microseconds since the epoch.
pub(crate) fn utc_micros(c: &Column) -> PolarsResult<Int64Chunked> {
    match c.dtype() {
        DataType::Datetime(unit, _) => {
            let physical = c.datetime()?.physical().clone();
            Ok(match unit {
                TimeUnit::Nanoseconds => physical.apply_values(|v| v.div_euclid(1000)),
                TimeUnit::Microseconds => physical,
                TimeUnit::Milliseconds => physical.apply_values(|v| v.saturating_mul(1000)),
            })
        }
        DataType::Date => {
            let days = c.date()?.physical().cast(&DataType::Int64)?;
            Ok(days
                .i64()?
                .apply_values(|d| d.saturating_mul(MICROS_PER_DAY)))
        }
        dt => polars_bail!(SchemaMismatch: "expected a timestamp, found {dt}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_unit_becomes_utc_microseconds() {
        let us = 1_725_235_200_123_456i64; // 2024-09-02T00:00:00.123456Z
        for (unit, value, want) in [
            (TimeUnit::Nanoseconds, us * 1000 + 789, us),
            (TimeUnit::Microseconds, us, us),
            (TimeUnit::Milliseconds, us / 1000, us / 1000 * 1000),
        ] {
            for tz in [None, Some(TimeZone::UTC)] {
                let c = Column::new("t".into(), [value])
                    .cast(&DataType::Datetime(unit, tz))
                    .unwrap();
                let cells = ParquetColumn::from_column(&c).unwrap();
                assert_eq!(cells.cell(0), Cell::Micros(want), "{unit:?}");
            }
        }
        let date = Column::new("d".into(), [19_968i32])
            .cast(&DataType::Date)
            .unwrap();
        assert_eq!(
            ParquetColumn::from_column(&date).unwrap().cell(0),
            Cell::Micros(19_968 * MICROS_PER_DAY)
        );
    }

    #[test]
    fn numbers_keep_their_kind() {
        let ints = Column::new("i".into(), [Some(7i32), None]);
        let cells = ParquetColumn::from_column(&ints).unwrap();
        assert_eq!((cells.cell(0), cells.cell(1)), (Cell::Int(7), Cell::Null));
        let decimals = Column::new("d".into(), ["12.5"])
            .cast(&DataType::Decimal(10, 2))
            .unwrap();
        assert_eq!(
            ParquetColumn::from_column(&decimals).unwrap().cell(0),
            Cell::Float(12.5)
        );
    }
}
