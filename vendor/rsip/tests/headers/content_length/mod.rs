use rsip::headers::*;

validate_untyped_header_trait!(ContentLength);
