//! Conformance tests for the transaction layer, filed by RFC section (hickory style).
//! Every test runs on a virtual clock and asserts on the bytes the layer emits.

mod harness;
mod layer;
mod rfc3261;
