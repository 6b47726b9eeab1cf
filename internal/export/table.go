package export

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// rowGroupRows bounds a Parquet row group, so a long run's table is
// written in pieces instead of held whole in memory.
const rowGroupRows = 64 * 1024

// Writer writes rows of T to a CSV and a Parquet file at once. It is not
// safe for concurrent use.
type Writer[T any] struct {
	cols  []column
	csv   *csv.Writer
	pq    *parquet.GenericWriter[T]
	batch []T
	cells []string
	rows  int
}

// NewWriter starts a table of T: the CSV header goes to csvOut at once.
// T must be one of this package's row types (a struct of int64, float64,
// bool, string and *float64, each tagged with its column name).
func NewWriter[T any](csvOut, parquetOut io.Writer) (*Writer[T], error) {
	cols, err := columnsOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	w := &Writer[T]{cols: cols, csv: csv.NewWriter(csvOut), cells: make([]string, len(cols)),
		pq: parquet.NewGenericWriter[T](parquetOut, parquet.Compression(&zstd.Codec{}), parquet.MaxRowsPerRowGroup(rowGroupRows))}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	if err := w.csv.Write(names); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return w, nil
}

// Write adds one row to both files.
func (w *Writer[T]) Write(row T) error {
	v := reflect.ValueOf(row)
	for i, c := range w.cols {
		w.cells[i] = c.format(v.Field(c.index))
	}
	if err := w.csv.Write(w.cells); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	w.batch = append(w.batch, row)
	w.rows++
	if len(w.batch) == 1024 {
		return w.flushBatch()
	}
	return nil
}

func (w *Writer[T]) flushBatch() error {
	if len(w.batch) == 0 {
		return nil
	}
	if _, err := w.pq.Write(w.batch); err != nil {
		return fmt.Errorf("export: parquet: %w", err)
	}
	w.batch = w.batch[:0]
	return nil
}

// Rows is the number of rows written.
func (w *Writer[T]) Rows() int { return w.rows }

// Close ends both files (the Parquet footer); it does not close the
// io.Writers.
func (w *Writer[T]) Close() error {
	err := w.flushBatch()
	w.csv.Flush()
	if cerr := w.csv.Error(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("export: %w", cerr))
	}
	if perr := w.pq.Close(); perr != nil {
		err = errors.Join(err, fmt.Errorf("export: parquet: %w", perr))
	}
	return err
}

// Columns lists T's column names, in order.
func Columns[T any]() []string {
	cols, err := columnsOf(reflect.TypeFor[T]())
	if err != nil {
		panic(err)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return names
}

// ReadParquet reads every row of a Parquet file written by Writer.
func ReadParquet[T any](path string) ([]T, error) {
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		return nil, fmt.Errorf("export: reading %s: %w", path, err)
	}
	return rows, nil
}

// ReadCSV reads every row of a CSV file written by Writer. The header must
// name T's columns in order; a cell that does not parse is an error naming
// its line and column.
func ReadCSV[T any](path string) ([]T, error) {
	cols, err := columnsOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(cols)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("export: %s: header: %w", path, err)
	}
	for i, c := range cols {
		if header[i] != c.name {
			return nil, fmt.Errorf("export: %s: column %d is %q, expected %q", path, i+1, header[i], c.name)
		}
	}
	var out []T
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("export: %s: %w", path, err)
		}
		var row T
		v := reflect.ValueOf(&row).Elem()
		for i, c := range cols {
			if err := c.parse(v.Field(c.index), rec[i]); err != nil {
				line, _ := r.FieldPos(i)
				return out, fmt.Errorf("export: %s:%d: column %s: %w", path, line, c.name, err)
			}
		}
		out = append(out, row)
	}
}

// column is one field of a row type.
type column struct {
	name  string
	index int
	kind  reflect.Kind // of the field, or of what it points to
	ptr   bool
}

func columnsOf(t reflect.Type) ([]column, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("export: %s is not a struct", t)
	}
	var cols []column
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name == "" || name == "-" {
			return nil, fmt.Errorf("export: %s.%s has no parquet column name", t.Name(), f.Name)
		}
		c := column{name: name, index: i, kind: f.Type.Kind()}
		if c.kind == reflect.Pointer {
			c.ptr, c.kind = true, f.Type.Elem().Kind()
		}
		switch {
		case c.ptr && c.kind == reflect.Float64: // a missing value is an empty cell
		case !c.ptr && (c.kind == reflect.Int64 || c.kind == reflect.Float64 || c.kind == reflect.Bool || c.kind == reflect.String):
		default:
			return nil, fmt.Errorf("export: %s.%s: %s columns are not supported", t.Name(), f.Name, f.Type)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// format writes a cell so that parse reads back the same value.
func (c column) format(v reflect.Value) string {
	if c.ptr {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch c.kind {
	case reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	default:
		return v.String()
	}
}

func (c column) parse(v reflect.Value, s string) error {
	if c.ptr {
		if s == "" {
			return nil // missing
		}
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	switch c.kind {
	case reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("expected a number, got %q", s)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	default:
		v.SetString(s)
	}
	return nil
}
