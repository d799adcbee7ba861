# The two commands of the README. Both install what is missing first (scripts/bootstrap.sh).
.PHONY: run test fuzz sanitize build format

## make run: build and run `ampora serve` on the embedded default (SQLite ./ampora.db).
run:
	scripts/run.sh $(ARGS)

## make test: the whole test suite (starts and stops a throwaway PostgreSQL).
test:
	scripts/test.sh

## make fuzz: a longer fuzzing run (FUZZ_SECONDS, default 600 per target).
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} scripts/fuzz.sh

## make sanitize: the Swift tests under ThreadSanitizer and AddressSanitizer (scripts/sanitize.sh).
sanitize:
	scripts/sanitize.sh both

build:
	swift build

format:
	swift format -i -r --configuration .swift-format Package.swift Sources Tests fuzz/Sources fuzz/Package.swift
