package report

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"io"
)

// encodePNG writes img, taken as opaque, as an 8-bit RGB PNG. Charts are
// opaque by construction (a white canvas), and image/png spends most of a
// chart's drawing time trying five filters on every row and compressing
// at the default level: here every row gets the Up filter (a chart is
// mostly flat areas and vertical repeats, which it turns into zeros) and
// deflate runs at its fastest level. BenchmarkChartsOfARun measures both.
func encodePNG(w io.Writer, img *image.RGBA) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		return err
	}
	row := make([]byte, 1+3*width)
	row[0] = 2 // Up: each byte less the one above it (0 above the first row)
	var above []byte
	for y := range height {
		off := (b.Min.Y+y-img.Rect.Min.Y)*img.Stride + (b.Min.X-img.Rect.Min.X)*4
		pix := img.Pix[off : off+4*width]
		for x := range width {
			for k := range 3 {
				v := pix[4*x+k]
				if above != nil {
					v -= above[4*x+k]
				}
				row[1+3*x+k] = v
			}
		}
		if _, err := zw.Write(row); err != nil {
			return err
		}
		above = pix
	}
	if err := zw.Close(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	_, _ = bw.WriteString("\x89PNG\r\n\x1a\n") // bufio keeps the first error for Flush
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, 2 // 8 bits per sample, truecolour
	writeChunk(bw, "IHDR", ihdr[:])
	writeChunk(bw, "IDAT", idat.Bytes())
	writeChunk(bw, "IEND", nil)
	return bw.Flush()
}

// writeChunk writes one PNG chunk: length, type, data, and the CRC of
// type and data.
func writeChunk(w *bufio.Writer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	_, _ = w.Write(n[:])
	crc := crc32.NewIEEE()
	_, _ = crc.Write([]byte(typ))
	_, _ = crc.Write(data)
	_, _ = w.WriteString(typ)
	_, _ = w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	_, _ = w.Write(n[:])
}
