//! The native evaluator: event readers, input schemas, matcher and aggregator over the IR,
//! and the rule-test runner. Reads only the IR; never imports `targets`.
