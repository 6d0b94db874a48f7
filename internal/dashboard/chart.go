package dashboard

import (
	"fmt"
	"strconv"
)

// barChart is the overview's orders-per-minute chart, laid out on the server as
// SVG: bars with a tooltip each (their value and minute), a y axis with gridlines
// and values, an x axis in minutes ago. Time runs toward the reading direction:
// left to right in English, right to left in Arabic (the bars and axes are
// mirrored, the digits are not).
type barChart struct {
	W, H    int
	Bars    []chartBar
	YTicks  []chartTick
	XTicks  []chartTick
	X0, X1  int // the plot's horizontal extent
	Y0, Y1  int // its vertical extent (Y1 is the baseline)
	AxisX   int // where the y axis stands
	LabelX  int // where its values are written
	Anchor  string
	Summary string
}

type chartBar struct {
	X, Y, W, H int
	Title      string
}

type chartTick struct {
	X, Y  int
	Label string
}

// niceMax is the chart's top: four equal steps of 1, 2 or 5 times a power of ten,
// so that every gridline has a round value.
func niceMax(n int) int {
	step := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if 4*m*step >= n {
				return 4 * m * step
			}
		}
		step *= 10
	}
}

func perMinuteChart(lang string, perMinute [60]int) barChart {
	c := barChart{W: 720, H: 200, Y0: 12, Y1: 172}
	rtl := lang == "ar"
	const gutter = 40
	if rtl {
		c.X0, c.X1, c.AxisX, c.LabelX, c.Anchor = 8, c.W-gutter, c.W-gutter, c.W-gutter+6, "start"
	} else {
		c.X0, c.X1, c.AxisX, c.LabelX, c.Anchor = gutter, c.W-8, gutter, gutter-6, "end"
	}
	peak, total := 0, 0
	for _, n := range perMinute {
		peak, total = max(peak, n), total+n
	}
	top := niceMax(peak)
	plotH := c.Y1 - c.Y0
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		c.YTicks = append(c.YTicks, chartTick{Y: c.Y1 - plotH*i/4, Label: strconv.Itoa(v)})
	}
	slot := float64(c.X1-c.X0) / 60
	xOf := func(i int) int { // the left edge of minute i's slot (0 = 60 minutes ago)
		if rtl {
			return c.X1 - int(float64(i+1)*slot)
		}
		return c.X0 + int(float64(i)*slot)
	}
	for i, n := range perMinute {
		h := plotH * n / top
		ago := 59 - i
		when := tr(lang, "ov.chart.now")
		if ago > 0 {
			when = fmt.Sprintf(tr(lang, "ov.chart.ago"), ago)
		}
		c.Bars = append(c.Bars, chartBar{X: xOf(i) + 1, Y: c.Y1 - h, W: max(int(slot)-2, 1), H: h,
			Title: fmt.Sprintf(tr(lang, "ov.chart.bar"), n, when)})
	}
	for _, ago := range []int{60, 45, 30, 15, 0} {
		i := 60 - ago // the slot edge
		x := c.X0 + int(float64(i)*slot)
		if rtl {
			x = c.X1 - int(float64(i)*slot)
		}
		label := tr(lang, "ov.chart.now")
		if ago > 0 {
			label = fmt.Sprintf(tr(lang, "ov.chart.ago"), ago)
		}
		c.XTicks = append(c.XTicks, chartTick{X: x, Y: c.Y1 + 16, Label: label})
	}
	c.Summary = fmt.Sprintf(tr(lang, "ov.chart.peak"), peak, total)
	return c
}
