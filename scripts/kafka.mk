# Local Apache Kafka targets; `include scripts/kafka.mk` from the main Makefile.
#   make kafka-up            one node on 127.0.0.1:9092
#   make kafka-up NODES=3    three nodes on 127.0.0.1:9092-9094
#   make kafka-status / kafka-down

# Resolved at include time so the targets work from any including Makefile.
KAFKA_SH := $(dir $(lastword $(MAKEFILE_LIST)))kafka.sh
NODES ?= 1

.PHONY: kafka-up kafka-down kafka-status

kafka-up:
	bash $(KAFKA_SH) up --nodes $(NODES)

kafka-down:
	bash $(KAFKA_SH) down

kafka-status:
	bash $(KAFKA_SH) status
