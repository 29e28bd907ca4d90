package train

import (
	"image"
	"image/color"
	"strings"
)

// glyphs is a 3×5 pixel font for the plot's labels: each glyph is five rows
// of three bits (most significant bit left). Lower-case letters draw as
// upper-case.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7},
	'A': {2, 5, 7, 5, 5}, 'B': {6, 5, 6, 5, 6}, 'C': {3, 4, 4, 4, 3}, 'D': {6, 5, 5, 5, 6},
	'E': {7, 4, 6, 4, 7}, 'F': {7, 4, 6, 4, 4}, 'G': {3, 4, 5, 5, 3}, 'H': {5, 5, 7, 5, 5},
	'I': {7, 2, 2, 2, 7}, 'J': {1, 1, 1, 5, 2}, 'K': {5, 5, 6, 5, 5}, 'L': {4, 4, 4, 4, 7},
	'M': {5, 7, 7, 5, 5}, 'N': {6, 5, 5, 5, 5}, 'O': {2, 5, 5, 5, 2}, 'P': {6, 5, 6, 4, 4},
	'Q': {2, 5, 5, 6, 3}, 'R': {6, 5, 6, 5, 5}, 'S': {3, 4, 2, 1, 6}, 'T': {7, 2, 2, 2, 2},
	'U': {5, 5, 5, 5, 7}, 'V': {5, 5, 5, 5, 2}, 'W': {5, 5, 7, 7, 5}, 'X': {5, 5, 2, 5, 5},
	'Y': {5, 5, 2, 2, 2}, 'Z': {7, 1, 2, 4, 7},
	'.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0}, '+': {0, 2, 7, 2, 0}, '(': {1, 2, 2, 2, 1},
	')': {4, 2, 2, 2, 4}, '/': {1, 1, 2, 4, 4}, ':': {0, 2, 0, 2, 0}, '_': {0, 0, 0, 0, 7},
	' ': {0, 0, 0, 0, 0},
}

// fontScale is the size of one font pixel in image pixels.
const fontScale = 2

// textWidth returns the width in pixels of s as drawText draws it.
func textWidth(s string) int { return len([]rune(s)) * 4 * fontScale }

// drawText draws s with its top-left corner at (x, y); characters without
// a glyph draw as blanks.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := glyphs[r]
		for row, bits := range g {
			for col := range 3 {
				if bits&(4>>col) != 0 {
					fill(img, image.Rect(x+col*fontScale, y+row*fontScale, x+(col+1)*fontScale, y+(row+1)*fontScale), c)
				}
			}
		}
		x += 4 * fontScale
	}
}
