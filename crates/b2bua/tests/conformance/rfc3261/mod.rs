//! RFC 3261 (with RFC 6026's corrections where the section says so).

mod section_17_1_1;
mod section_17_1_2;
mod section_17_1_3;
mod section_17_2_1;
mod section_17_2_2;
mod section_17_2_3;
mod section_9_2;
