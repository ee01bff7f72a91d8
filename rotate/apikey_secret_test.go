package rotate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/rotate"
)

func TestCreatedKeyNeverShowsKey(t *testing.T) {
	const key = "Zq8secretAPIkeyValue0123456789abcdefXYZ"
	k := rotate.CreatedKey{APIKey: rotate.APIKey{ID: 184, UserID: 7, Name: "keyroll t r"}, Key: key}
	js, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{"json": string(js)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs[verb] = fmt.Sprintf(verb, k)
	}
	for how, out := range outs {
		if strings.Contains(out, key[:12]) {
			t.Errorf("%s shows the key (output withheld)", how)
		}
		if !strings.Contains(out, "184") {
			t.Errorf("%s lost the key id: %s", how, out)
		}
	}
}
