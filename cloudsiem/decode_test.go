package cloudsiem

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// answerSeeds are list answers in the shapes seen, and in shapes made to
// trip a hand-written reader.
var answerSeeds = []string{
	`{"RequestId":"r","Data":[{"BindId":1,"AccountId":"1","AccountName":"a","AccessId":"AK1","CloudCode":"hcloud","CreateUser":"u","ModifyTime":"2024-01-01 00:00:00","DataSourceCount":2}]}`,
	`{"Code":200,"Success":true,"Message":"success","RequestId":"r","Data":[]}`,
	`{"Code":"OK","Data":null}`,
	`{"Data":[{"AccessId":"HPUA****0001","AccessIdMd5":"0cc175b9c0f1b6a831c399e269772661","AccountId":"1","AccountStr":"1|n|HPUA****0001","Bound":1,"CloudCode":"hcloud","SubUserId":7}]}`,
	` { "data" : [ { "bindid" : 5 , "ACCOUNTID" : "x" , "cloudcode" : "qcloud" } ] } trailing`,
	`{"Data":[{"BindId":1,"BindId":null,"AccountId":"1","AccountId":null}]}`,
	`{"Data":[{"BindId":1}],"Data":[]}`,
	`{"Data":[{"AccountName":"\u4e2d\u6587"}]}`,
	`{"Data":[{"AccountName":"中文"}]}`,
	`{"Data":[{"AccountName":"bad \xff byte"}]}`,
	`{"Data":[{"BindId":"1"}]}`,
	`{"Data":[{"BindId":1.0}]}`,
	`{"Data":[{"BindId":1e3}]}`,
	`{"Data":[{"BindId":-0}]}`,
	`{"Data":[{"BindId":99999999999999999999}]}`,
	`{"Data":[{"Bound":4294967296}]}`,
	`{"Data":[null]}`,
	`{"Data":{"Count":1}}`,
	`{"Data":[{"Extra":{"a":[1,2]}}]}`,
	`{"Extra":[1],"Data":[]}`,
	`{"Code":{"x":1}}`,
	`{"Code":null,"Code":true}`,
	`{"Data":[{"BındId":1}]}`,
	`{"Data":[{"Bind\u0049d":1}]}`,
	`{"Data":[{"BindId":01}]}`,
	`{"Data":[{"BindId":1,}]}`,
	`{"Data":[{"BindId":1}`,
	`null`,
	`[]`,
	"\ufeff{}",
	`{"Data":[{"AccountName":"tab	inside"}]}`,
	`{"Data":[{"ModifyTime":true}]}`,
	`{"Data":[{"AccountName":nul}]}`,
}

// FuzzFastDecodeAgrees holds the fast list reader to encoding/json: on any
// input it accepts, encoding/json must accept it too and read the same.
func FuzzFastDecodeAgrees(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, pair := range [][2]fastDecoder{{&listResponse{}, &listResponse{}}, {&knownKeysResponse{}, &knownKeysResponse{}}} {
			fast, slow := pair[0], pair[1]
			if !fast.decodeFast(body) {
				continue
			}
			if err := json.NewDecoder(strings.NewReader(body)).Decode(slow); err != nil {
				t.Fatalf("the fast reader accepted what encoding/json refuses (%v): %q", err, body)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q\nfast reader: %s\nencoding/json: %s", body, dump(fast), dump(slow))
			}
		}
	})
}

// TestDecodeAnswerIsEncodingJSON: whichever reader reads a body, the result
// (or the refusal) is encoding/json's, including where the fast reader
// gave up half way through.
func TestDecodeAnswerIsEncodingJSON(t *testing.T) {
	for _, body := range answerSeeds {
		var got, want listResponse
		gotErr := decodeAnswer(body, &got)
		wantErr := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: error %v, encoding/json says %v", body, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q\ngot  %s\nwant %s", body, dump(&got), dump(&want))
		}
	}
}

// TestUsualAnswersTakeTheFastPath: the shapes the service and the emulator
// send are read without encoding/json (else the speed-up is gone unseen).
func TestUsualAnswersTakeTheFastPath(t *testing.T) {
	for _, body := range answerSeeds[:5] {
		var l listResponse
		var k knownKeysResponse
		if !l.decodeFast(body) || !k.decodeFast(body) {
			t.Errorf("not read by the fast reader: %q", body)
		}
	}
	var l listResponse
	if !l.decodeFast(answerSeeds[0]) || len(l.Data) != 1 || l.Data[0].BindID != 1 || l.Data[0].DataSourceCount != 2 || l.RequestID != "r" {
		t.Errorf("read %s", dump(&l))
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// BenchmarkDecodeList5k reads a ListBindAccount answer of 5,000 entries and
// a ListAccountAccessId answer of as many keys, as a pass at 10,000
// bindings does twice.
func BenchmarkDecodeList5k(b *testing.B) {
	var items []BoundAccount
	var keys []KnownAccessKey
	for i := range 5000 {
		id := strconv.Itoa(100000000 + i)
		items = append(items, BoundAccount{BindID: int64(i + 1), AccountID: id, AccountName: "account-" + id, AccessID: "AKEXAMPLE" + id,
			CloudCode: "hcloud", CreateUser: "creator", ModifyTime: "2026-12-01 10:00:00"})
		keys = append(keys, KnownAccessKey{AccessID: "AKEXAMPLE" + id, AccessIDMd5: "0cc175b9c0f1b6a831c399e269772661", AccountID: id,
			AccountStr: id + "|account-" + id + "|AKEXAMPLE" + id, Bound: 1, CloudCode: "hcloud"})
	}
	list, _ := json.Marshal(map[string]any{"RequestId": "r", "Data": items})
	known, _ := json.Marshal(map[string]any{"RequestId": "r", "Data": keys})
	b.SetBytes(int64(len(list) + len(known)))
	b.ReportAllocs()
	for b.Loop() {
		var l listResponse
		var k knownKeysResponse
		if err := decodeAnswer(string(list), &l); err != nil {
			b.Fatal(err)
		}
		if _, err := checkList(l.Data, "hcloud"); err != nil {
			b.Fatal(err)
		}
		if err := decodeAnswer(string(known), &k); err != nil || len(k.Data) != 5000 {
			b.Fatal(err)
		}
	}
}
