// Command kernelname prints which float32 matrix-product kernel the
// toolkit's CPU backend uses on this machine, and how many cores Go uses.
package main

import (
	"fmt"
	"runtime"

	"github.com/cadps/toolkit/cadps/backend/cpu"
)

func main() {
	fmt.Printf("SGEMM kernel %s, GOMAXPROCS %d\n", cpu.SGEMMKernel(), runtime.GOMAXPROCS(0))
}
