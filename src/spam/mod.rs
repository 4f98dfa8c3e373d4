//! Anti-spam (issue 10): the pieces the rules and the classifier share. So far the text
//! normalisation that sees through the tricks spam uses to hide its words, and the tokens
//! the Bayesian classifier will count.

pub mod bayes;
pub mod metrics;
pub mod normalize;
pub mod rules;
pub mod tokenize;
