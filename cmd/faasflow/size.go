package main

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeFlag is a byte count flag: a number of bytes, or one followed by
// KiB, MiB or GiB ("32MiB").
type sizeFlag int64

func (s *sizeFlag) String() string {
	n := int64(*s)
	for _, u := range sizeUnits {
		if n >= u.bytes && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (s *sizeFlag) Set(v string) error {
	num, mult := v, int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = rest, u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<42)/mult {
		return fmt.Errorf("want a positive size such as 1048576 or 32MiB, got %q", v)
	}
	*s = sizeFlag(n * mult)
	return nil
}

// sizeUnits are the suffixes sizeFlag reads, largest first.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
