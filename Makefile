# keyroll — the README's two commands are `make demo` and `make test`.
.PHONY: demo test bench soak build vault clean docs

build:
	CGO_ENABLED=0 go build -trimpath -o bin/keyroll .

# docs regenerates the command reference in docs/cli from the commands' help
# (internal/cli's TestCLIDocsCurrent fails when it is stale).
docs:
	go test ./internal/cli -run '^TestCLIDocsCurrent$$' -count=1 -update-docs

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
