package runner

import (
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
	logrusslog "github.com/sirupsen/logrus/hooks/slog"
)

// newLogger builds the process's logger as the user chose: logrus, writing
// JSON lines to w, handed to every package as a *slog.Logger so that no
// package below the entry points depends on logrus.
func newLogger(w io.Writer, level logrus.Level) *slog.Logger {
	lr := logrus.New()
	lr.SetOutput(w)
	lr.SetFormatter(&logrus.JSONFormatter{})
	lr.SetLevel(level)
	return slog.New(logrusslog.NewHandler(lr, nil))
}
