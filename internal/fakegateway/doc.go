// Package fakegateway plays the OpenFaaS gateway in front of one flow
// function in the runtime's and the template's tests: it takes hops on the
// async endpoint and relays them to the flow later (or holds them for the
// test to deliver, duplicate or drop), serves worker functions registered
// by the test, and receives completion callbacks. It is test
// infrastructure: the end-to-end tests run the real local gateway instead.
package fakegateway
