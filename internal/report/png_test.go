package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
)

func TestEncodePNGRoundTripsEveryPixel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	noise := image.NewRGBA(image.Rect(0, 0, 37, 23))
	for i := range noise.Pix {
		noise.Pix[i] = byte(rng.IntN(256))
	}
	flat := image.NewRGBA(image.Rect(0, 0, 64, 16))
	for y := range 16 {
		for x := range 64 {
			flat.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	flat.SetRGBA(10, 5, color.RGBA{0x1f, 0x77, 0xb4, 0xff})
	for _, tt := range []struct {
		name string
		img  *image.RGBA
	}{
		{"random pixels", noise},
		{"flat canvas with one mark", flat},
		{"sub-image off the origin", noise.SubImage(image.Rect(5, 3, 30, 20)).(*image.RGBA)},
		{"one pixel", noise.SubImage(image.Rect(1, 1, 2, 2)).(*image.RGBA)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodePNG(&buf, tt.img); err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("image/png cannot read it: %v", err)
			}
			b := tt.img.Bounds()
			if got.Bounds().Dx() != b.Dx() || got.Bounds().Dy() != b.Dy() {
				t.Fatalf("size %v, want %v", got.Bounds().Size(), b.Size())
			}
			for y := range b.Dy() {
				for x := range b.Dx() {
					want := tt.img.RGBAAt(b.Min.X+x, b.Min.Y+y)
					want.A = 255
					if g := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA); g != want {
						t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, g, want)
					}
				}
			}
		})
	}
}
