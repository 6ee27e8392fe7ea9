"""Common microcontroller boards and the memory a TFLite Micro model has on them.

RAM and flash are the chip's (or module's) figures from the maker's page named in ``source``.
A model "fits" when its measured arena fits the RAM and its bytes fit the flash; the
application, the stack and the TFLite Micro library itself (its code in flash, a few KB of
interpreter state in RAM outside the arena) need the rest, so a fit at the edge is not a
working build."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    core: str
    ram_kb: int
    flash_kb: int
    source: str


BOARDS = (
    Board("STM32G031K8 (NUCLEO-G031K8)", "Cortex-M0+", 8, 64,
          "st.com/en/microcontrollers-microprocessors/stm32g031k8.html"),
    Board("STM32F103C8 (\"Blue Pill\")", "Cortex-M3", 20, 64,
          "st.com/en/microcontrollers-microprocessors/stm32f103c8.html"),
    Board("Arduino Nano 33 IoT (SAMD21G18A)", "Cortex-M0+", 32, 256,
          "docs.arduino.cc/hardware/nano-33-iot"),
    Board("Arduino UNO R4 Minima (RA4M1)", "Cortex-M4", 32, 256,
          "docs.arduino.cc/hardware/uno-r4-minima"),
    Board("STM32L432KC (NUCLEO-L432KC)", "Cortex-M4", 64, 256,
          "st.com/en/microcontrollers-microprocessors/stm32l432kc.html"),
    Board("BBC micro:bit v2 (nRF52833)", "Cortex-M4", 128, 512,
          "tech.microbit.org/hardware"),
    Board("Arduino Nano 33 BLE Sense (nRF52840)", "Cortex-M4", 256, 1024,
          "docs.arduino.cc/hardware/nano-33-ble-sense"),
    Board("Raspberry Pi Pico (RP2040)", "Cortex-M0+", 264, 2048,
          "datasheets.raspberrypi.com/pico/pico-datasheet.pdf"),
)  # fmt: skip


def fitting(arena_bytes: int, flash_bytes: int) -> list[Board]:
    """The boards whose RAM holds the arena and whose flash holds the model."""
    return [
        b for b in BOARDS if arena_bytes <= b.ram_kb * 1024 and flash_bytes <= b.flash_kb * 1024
    ]
