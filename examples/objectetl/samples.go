package function

import (
	"bytes"
	"fmt"
)

// SampleRules are the rules the demo and the tests use with the sample
// orders: id, customer and amount are required, id becomes an integer,
// amount a number and paid a boolean, cancelled orders are filtered out,
// customer is renamed customer_name and status is left out.
const SampleRules = `{
  "required": ["id", "customer", "amount"],
  "convert": {"id": "int", "amount": "number", "paid": "bool"},
  "filter": [{"field": "status", "op": "ne", "value": "cancelled"}],
  "rename": {"customer": "customer_name"},
  "drop": ["status"]
}`

// sampleOrder is order i (from 1) of the samples. Some orders are wrong on
// purpose: every 1009th has no customer, every 997th an amount that is not
// a number, every 4999th an extra field (CSV) or a nested element (XML);
// every 13th is cancelled.
func sampleOrder(i int) (customer, amount, paid, status string, extra bool) {
	customer = fmt.Sprintf("customer-%04d", i%1000)
	if i%1009 == 0 {
		customer = ""
	}
	amount = fmt.Sprintf("%d.%02d", i%500, i%100)
	if i%997 == 0 {
		amount = "n/a"
	}
	paid = "false"
	if i%2 == 0 {
		paid = "true"
	}
	status = "open"
	if i%13 == 0 {
		status = "cancelled"
	}
	return customer, amount, paid, status, i%4999 == 0
}

// SampleCSV returns n sample orders as CSV (about 38 bytes an order),
// the same for the same n.
func SampleCSV(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 40)
	b.WriteString("id,customer,amount,paid,status\n")
	for i := 1; i <= n; i++ {
		customer, amount, paid, status, extra := sampleOrder(i)
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s", i, customer, amount, paid, status)
		if extra {
			b.WriteString(",unexpected")
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// SampleXML returns n sample orders as XML (about 125 bytes an order),
// the same for the same n.
func SampleXML(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 130)
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<orders>\n")
	for i := 1; i <= n; i++ {
		customer, amount, paid, status, extra := sampleOrder(i)
		if extra {
			amount = "<value>" + amount + "</value>"
		}
		fmt.Fprintf(&b, "  <order id=\"%d\"><customer>%s</customer><amount>%s</amount><paid>%s</paid><status>%s</status></order>\n",
			i, customer, amount, paid, status)
	}
	b.WriteString("</orders>\n")
	return b.Bytes()
}

// SampleBroken returns an XML file cut short in the middle of an order:
// not well-formed, so it is rejected whole.
func SampleBroken() []byte {
	x := SampleXML(20)
	return x[:len(x)/2]
}
