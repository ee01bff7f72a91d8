# keyroll — the README's two commands are `make demo` and `make test`.
.PHONY: demo test bench soak build vault clean

build:
	CGO_ENABLED=0 go build -trimpath -o bin/keyroll .

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

soak:
	scripts/soak.sh

vault:
	scripts/vault-bin.sh

clean:
	rm -rf bin .demo cmd/soak/out
