//! Output formats for lists: a table on terminals, CSV when piped (like the official CLI),
//! or JSON.

use std::io::IsTerminal;

use clap::ValueEnum;
use serde_json::Value;

/// How a list is printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns (default on a terminal).
    Table,
    /// Comma-separated values with a header row (default when stdout is not a terminal).
    Csv,
    /// A JSON array of objects.
    Json,
}

impl Format {
    /// The format asked for, or the default for the current stdout.
    pub fn or_default(requested: Option<Format>) -> Format {
        requested.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Csv
            }
        })
    }
}

/// A column: its header and the JSON key it shows.
pub struct Column {
    /// Header in table and CSV output.
    pub header: &'static str,
    /// Key in each row object.
    pub key: &'static str,
}

/// Prints `rows` (JSON objects) in `format`.
pub fn print_rows(format: Format, columns: &[Column], rows: &[Value]) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(std::io::stdout());
            writer.write_record(columns.iter().map(|c| c.header))?;
            for row in rows {
                writer.write_record(columns.iter().map(|c| cell(row, c.key)))?;
            }
            writer.flush()?;
        }
        Format::Table => {
            let mut table = comfy_table::Table::new();
            table
                .load_preset(comfy_table::presets::NOTHING)
                .set_header(columns.iter().map(|c| c.header));
            for row in rows {
                table.add_row(columns.iter().map(|c| cell(row, c.key)));
            }
            println!("{table}");
        }
    }
    Ok(())
}

fn cell(row: &Value, key: &str) -> String {
    match &row[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
