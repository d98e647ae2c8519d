//! Integration tests: the real `reqmail` binary on fixtures and the public corpus in `fixtures/corpus`.

mod harness;

mod approval;
mod cli;
mod corpus;
mod ingest;
mod language;
mod rules;
mod threading;
mod attacks;
mod corpus_mangled;
mod golden;
mod architecture;
mod migrations;
mod transport;
mod imap;
mod serve;
mod smtp;
mod mta_pipe;
mod deploy;
mod doctor;
mod backup;
mod retention;
mod import;
mod tutorial;
mod oauth;
mod report;
mod search;
mod desk;
mod webhooks;
mod monitors;
mod directory;
mod scale;
mod batch;
