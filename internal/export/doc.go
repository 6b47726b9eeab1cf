// Package export writes a run's measurements as tables, in CSV and in
// Parquet, for spreadsheets, pandas, DuckDB or Spark: one row per request
// (Request), per scrape of a server (ServerSample), per GPU sample
// (GPUSample) and per event of the timeline (Event).
//
// Read rows.go first: each row type's fields are the columns, named by
// their parquet tags, in the same order in both formats, and each field's
// comment says what the column holds and in which unit. Then table.go:
// Writer writes one table to a CSV and a Parquet file at once; ReadCSV and
// ReadParquet read them back (the tests prove they give the same rows).
//
// CSV cells are written so that they read back exactly: integers in
// decimal, floating point numbers in the shortest form that parses to the
// same float64, booleans as true/false, and a missing value (a nil
// pointer: a GPU figure that could not be read) as an empty cell. In
// Parquet a missing value is null. Nothing missing is ever written as 0.
package export
