package engine

import (
	"fmt"

	"github.com/google/uuid"

	"watan"
)

// referans builds the order's reference for its n-th placement (n ≥ 1): "1", the
// order id in 12 digits, and n in 2 digits. It is numeric (znet refuses anything
// else), unique by construction within a database, and 15 digits long, so it can
// never equal a reference of the system we replace (milliseconds plus three random
// digits: 16 digits).
func referans(orderID int64, n int) string {
	return fmt.Sprintf("1%012d%02d", orderID, n%100)
}

// refNamespace is watan's UUID namespace for references: the version 5 UUID of
// the URL "urn:watan:order-reference" in the URL namespace (TestReferenceUUID
// derives it again). Fixed forever: changing it would change the UUID of every
// reference and break the lookup of orders already placed.
var refNamespace = uuid.MustParse("4f39b5d1-9fc3-5957-b07f-6389e00d424d")

// ReferenceUUID is the version 5 UUID of the numeric reference ref in watan's
// namespace: what a barakat account with order_uuid "uuid" receives instead of
// ref. The same ref always yields the same UUID.
func ReferenceUUID(ref string) string {
	return uuid.NewSHA1(refNamespace, []byte(ref)).String()
}

// wireReferans is the reference an order's n-th placement at acct is stored and
// sent under, in the form the account's settings ask for.
func wireReferans(acct watan.ProviderAccount, orderID int64, n int) string {
	ref := referans(orderID, n)
	if acct.Settings.OrderUUID == watan.RefUUID {
		return ReferenceUUID(ref)
	}
	return ref
}
