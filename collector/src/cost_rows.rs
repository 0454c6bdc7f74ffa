//! Cost rows handed to the store in batches.

use vitals_core::cost_rows::{CostFrameBuilder, CostRow};

use crate::collector::{BATCH_ROWS, Batches};
use crate::error::CollectError;

/// Rows a cost collector reads, handed over every [`BATCH_ROWS`] rows as one
/// canonical frame, so a run holds one batch, never the whole input.
#[derive(Debug)]
pub struct CostBatches {
    builder: CostFrameBuilder,
    source: String,
    out: Batches,
}

impl CostBatches {
    pub fn new(source: &str, out: Batches) -> Self {
        CostBatches {
            builder: CostFrameBuilder::new(),
            source: source.to_string(),
            out,
        }
    }

    /// Adds a row; hands over a full batch (from a blocking thread).
    pub fn push_blocking(&mut self, row: CostRow) -> Result<(), CollectError> {
        self.builder.push(row);
        if self.builder.len() >= BATCH_ROWS {
            self.flush_blocking()?;
        }
        Ok(())
    }

    /// The collector's name, every row's `source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Hands over a batch already in the cost dataset's columns, with
    /// `source` (from a blocking thread).
    pub fn send_frame_blocking(
        &mut self,
        frame: polars::prelude::DataFrame,
    ) -> Result<(), CollectError> {
        let frame = vitals_core::Dataset::Cost.conform(frame)?;
        self.out.send_blocking(frame)
    }

    /// Hands over what is left (from a blocking thread).
    pub fn flush_blocking(&mut self) -> Result<(), CollectError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let builder = std::mem::take(&mut self.builder);
        self.out.send_blocking(builder.finish(&self.source)?)
    }
}
