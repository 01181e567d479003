//! Deployable artefacts: a rule's emitted query wrapped as a scheduled detection of a SIEM
//! (Sentinel analytic rule, Defender XDR custom detection, Splunk saved search), with the
//! schedule derived in [`schedule`].

pub mod schedule;

pub use schedule::Schedule;
