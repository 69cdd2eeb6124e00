//! Twilio connector tests (see the modules below).
