//! `reqmail report`: reports over all tickets.

use crate::cli::{Failure, Setup};

/// Reports over all tickets.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Answers to the satisfaction survey: count, average, and how often each rating was given.
    Surveys {
        #[arg(long)]
        json: bool,
    },
}

impl ReportCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let ReportCommand::Surveys { json } = self;
        let store = setup.open_store()?;
        let mut counts = [0i64; 5];
        let mut statement = store.conn.prepare("SELECT rating, COUNT(*) FROM surveys GROUP BY rating")?;
        for row in statement.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))? {
            let (rating, count) = row?;
            if let Some(slot) = usize::try_from(rating - 1).ok().and_then(|index| counts.get_mut(index)) {
                *slot = count;
            }
        }
        let answers: i64 = counts.iter().sum();
        let average = if answers == 0 {
            None
        } else {
            Some(counts.iter().enumerate().map(|(index, count)| (index as i64 + 1) * count).sum::<i64>() as f64 / answers as f64)
        };
        if *json {
            println!("{}", serde_json::json!({ "answers": answers, "average": average, "by_rating": counts }));
        } else {
            println!("{answers} answers, average {}", average.map_or("-".to_string(), |average| format!("{average:.2}")));
            for (index, count) in counts.iter().enumerate() {
                println!("  {}: {count}", index + 1);
            }
        }
        Ok(())
    }
}
