/* The CPv4 extensions from C, against the generated header: loads libluna_ffi.so with dlopen,
 * resolves every function it calls by name (as the vendor's wrapper does), and runs the
 * low-level flow between the two simulated HSMs (Start, Continue, Continue, Extract with the
 * Confirm, Insert, Close on both sides), CA_MigrateKeys, CA_CloneObject, the four domain
 * calls, CA_GetFirmwareVersion and CA_GetTime, checking each result.
 *
 * Usage: cpv4 /path/to/libluna_ffi.so   (with LUNA_SIM_HOME set to a fresh home)
 * Prints "cpv4: OK" and exits 0 on success. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luna_cpv4.h"
#include "check.h"

/* A pointer named p_NAME to the function NAME of the module, resolved by name. */
#define RESOLVE(name)                                \
    __typeof__(name) *p_##name;                      \
    *(void **)(&p_##name) = dlsym(module, #name);    \
    EXPECT(p_##name != NULL)

#define BLOB_ROOM 64000

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULE\n", argv[0]);
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    RESOLVE(C_Initialize);
    RESOLVE(C_Finalize);
    RESOLVE(C_OpenSession);
    RESOLVE(C_Login);
    RESOLVE(C_Logout);
    RESOLVE(C_GenerateKey);
    RESOLVE(C_GetAttributeValue);
    RESOLVE(C_EncryptInit);
    RESOLVE(C_Encrypt);
    RESOLVE(C_DecryptInit);
    RESOLVE(C_Decrypt);
    RESOLVE(CA_MigrationStartSessionNegotiation);
    RESOLVE(CA_MigrationContinueSessionNegotiation);
    RESOLVE(CA_MigrationCloseSession);
    RESOLVE(CA_Extract);
    RESOLVE(CA_Insert);
    RESOLVE(CA_MigrateKeys);
    RESOLVE(CA_CloneObject);
    RESOLVE(CA_AddKCV);
    RESOLVE(CA_ChangeKCVLabel);
    RESOLVE(CA_DeleteKCV);
    RESOLVE(CA_GetKCVLabels);
    RESOLVE(CA_GetFirmwareVersion);
    RESOLVE(CA_GetTime);

    CHECK(p_C_Initialize(NULL));
    CK_SESSION_HANDLE source, target;
    CHECK(p_C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &source));
    CHECK(p_C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &target));
    CHECK(p_C_Login(source, CKU_USER, (CK_UTF8CHAR_PTR) "co-pin", 6));
    CHECK(p_C_Login(target, CKU_USER, (CK_UTF8CHAR_PTR) "co-pin", 6));

    CK_ULONG major = 0, minor = 0, subminor = 0, now = 0;
    CHECK(p_CA_GetFirmwareVersion(1, &major, &minor, &subminor));
    EXPECT(major == 7 && minor == 8 && subminor == 4);
    CHECK(p_CA_GetTime(source, &now));
    EXPECT(now > 1600000000UL);

    CK_MECHANISM keygen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG key_len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE template[] = {
        {CKA_VALUE_LEN, &key_len, sizeof key_len},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_LABEL, "c-cpv4", 6},
    };
    CK_OBJECT_HANDLE keys[4];
    for (int i = 0; i < 4; i++) {
        CHECK(p_C_GenerateKey(source, &keygen, template, 3, &keys[i]));
    }

    /* Flow step 1, on the target (initiator): a size query, then the Offer. */
    CK_ULONG step = 0, offer_len = 0;
    CHECK(p_CA_MigrationStartSessionNegotiation(target, 0, NULL, &step, &offer_len, NULL));
    EXPECT(step == 2 && offer_len > 0);
    CK_ULONG short_len = 8;
    CK_BYTE tiny[8];
    EXPECT(p_CA_MigrationStartSessionNegotiation(target, 0, NULL, &step, &short_len, tiny) ==
           CKR_BUFFER_TOO_SMALL);
    EXPECT(short_len == offer_len);
    CK_BYTE *offer = malloc(offer_len);
    EXPECT(offer != NULL);
    CHECK(p_CA_MigrationStartSessionNegotiation(target, 0, NULL, &step, &offer_len, offer));
    EXPECT(step == 2);

    /* Flow step 2, on the source (responder): every output queried together, then the
     * Accept and the new UID. */
    CK_ULONG accept_len = 0, status = 0, uid_len = 0;
    CHECK(p_CA_MigrationContinueSessionNegotiation(source, 2, offer_len, offer, 0, NULL, &step,
                                                    &accept_len, NULL, &status, &uid_len, NULL));
    EXPECT(uid_len == 16 && accept_len > 0);
    CK_BYTE *accept = malloc(accept_len);
    CK_BYTE uid[16];
    EXPECT(accept != NULL);
    CHECK(p_CA_MigrationContinueSessionNegotiation(source, 2, offer_len, offer, 0, NULL, &step,
                                                    &accept_len, accept, &status, &uid_len, uid));
    EXPECT(step == 3 && status == CPV4_STATUS_MORE && uid_len == 16);

    /* Flow step 3, on the target: the UID given, both UID outputs NULL (register A22). */
    CK_ULONG confirm_len = BLOB_ROOM;
    CK_BYTE *confirm = malloc(confirm_len);
    EXPECT(confirm != NULL);
    CHECK(p_CA_MigrationContinueSessionNegotiation(target, 3, accept_len, accept, 16, uid, &step,
                                                    &confirm_len, confirm, &status, NULL, NULL));
    EXPECT(step == 4 && status == CPV4_STATUS_DONE);

    /* Flow step 4, on the source: the first extract carries the Confirm; a 64,000-byte buffer
     * with its length preset, as the vendor's test does. */
    CK_ULONG object_type = CK_CRYPTOKI_ELEMENT, blob_len = BLOB_ROOM;
    CK_RV result = 0;
    CK_BYTE *blob = malloc(BLOB_ROOM);
    EXPECT(blob != NULL);
    CK_CPV4_EXTRACT_PARAMS extract = {confirm_len, confirm, 16, uid, 0, 1, &object_type,
                                      &keys[0], &result, &blob_len, &blob};
    CK_MECHANISM extract_mechanism = {CKM_CPV4_EXTRACT, &extract, sizeof extract};
    CHECK(p_CA_Extract(source, &extract_mechanism));
    EXPECT(result == CKR_OK && blob_len > 0 && blob_len < BLOB_ROOM);

    /* Flow step 5, on the target. */
    CK_ULONG storage = LUNA_STORAGE_FLASH;
    CK_OBJECT_HANDLE clone = 0;
    CK_CPV4_INSERT_PARAMS insert = {0, NULL, 16, uid, 0, 1, &object_type, &storage,
                                    &blob_len, &blob, &result, &clone};
    CK_MECHANISM insert_mechanism = {CKM_CPV4_INSERT, &insert, sizeof insert};
    CHECK(p_CA_Insert(target, &insert_mechanism));
    EXPECT(result == CKR_OK && clone != 0);

    CK_BYTE ouid_source[32], ouid_target[32];
    CK_ATTRIBUTE read_source = {CKA_OUID, ouid_source, sizeof ouid_source};
    CK_ATTRIBUTE read_target = {CKA_OUID, ouid_target, sizeof ouid_target};
    CHECK(p_C_GetAttributeValue(source, keys[0], &read_source, 1));
    CHECK(p_C_GetAttributeValue(target, clone, &read_target, 1));
    EXPECT(read_source.ulValueLen == read_target.ulValueLen);
    EXPECT(memcmp(ouid_source, ouid_target, read_source.ulValueLen) == 0);

    /* The clone decrypts what the source encrypted. */
    CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, NULL, 0, 128};
    CK_MECHANISM mechanism = {CKM_AES_GCM, &gcm, sizeof gcm};
    CK_BYTE message[] = "cloned over CPv4";
    CK_BYTE cipher[64], plain[64];
    CK_ULONG cipher_len = sizeof cipher, plain_len = sizeof plain;
    CHECK(p_C_EncryptInit(source, &mechanism, keys[0]));
    CHECK(p_C_Encrypt(source, message, sizeof message - 1, cipher, &cipher_len));
    CHECK(p_C_DecryptInit(target, &mechanism, clone));
    CHECK(p_C_Decrypt(target, cipher, cipher_len, plain, &plain_len));
    EXPECT(plain_len == sizeof message - 1 && memcmp(plain, message, plain_len) == 0);

    /* Flow step 6, on both sides; a second close of the same UID is still CKR_OK (A2). */
    CHECK(p_CA_MigrationCloseSession(source, 16, uid));
    CHECK(p_CA_MigrationCloseSession(target, 16, uid));
    CHECK(p_CA_MigrationCloseSession(target, 16, uid));
    EXPECT(p_CA_Extract(source, &extract_mechanism) != CKR_OK);

    /* CA_MigrateKeys with a bad handle in the middle and CKF_CONTINUE_ON_ERR. */
    CK_OBJECT_MIGRATION_DATA data[3] = {
        {CK_CRYPTOKI_ELEMENT, keys[1], 0, 0},
        {CK_CRYPTOKI_ELEMENT, 0xDEAD, 0, 0},
        {CK_CRYPTOKI_ELEMENT, keys[2], 0, 0},
    };
    CHECK(p_CA_MigrateKeys(source, target, CKF_CONTINUE_ON_ERR, 3, data));
    EXPECT(data[0].rv == CKR_OK && data[0].targetHandle != 0);
    EXPECT(data[1].rv == CKR_OBJECT_HANDLE_INVALID && data[1].targetHandle == 0);
    EXPECT(data[2].rv == CKR_OK && data[2].targetHandle != 0);
    EXPECT(p_CA_MigrateKeys(source, target, 0, 0, data) == CKR_ARGUMENTS_BAD);
    EXPECT(p_CA_MigrateKeys(source, target, 0, 3, NULL) == CKR_ARGUMENTS_BAD);

    /* The legacy one-object clone. */
    CK_OBJECT_HANDLE legacy_clone = 0;
    CHECK(p_CA_CloneObject(target, source, CK_CRYPTOKI_ELEMENT, keys[3], &legacy_clone));
    EXPECT(legacy_clone != 0);
    EXPECT(p_CA_CloneObject(target, source, CK_CRYPTOKI_ELEMENT, keys[3], &legacy_clone) ==
           CKR_FAILED_TO_CLONE_AN_OBJECT);

    /* The domain calls, as the Partition SO of the source. */
    CHECK(p_C_Logout(source));
    CHECK(p_C_Login(source, CKU_SO, (CK_UTF8CHAR_PTR) "so-pin", 6));
    CHECK(p_CA_AddKCV(source, 6, (CK_BYTE_PTR) "secret", 5, (CK_BYTE_PTR) "extra", CK_FALSE));
    CK_ULONG count = 0, flags = 0;
    CHECK(p_CA_GetKCVLabels(0, &count, &flags, NULL, NULL));
    EXPECT(count == 2);
    CK_ULONG lengths[2] = {0, 0};
    CK_BYTE label0[32], label1[32];
    CK_BYTE_PTR labels[2] = {label0, label1};
    CHECK(p_CA_GetKCVLabels(0, &count, NULL, lengths, labels));
    EXPECT(lengths[0] == strlen("default-domain") && memcmp(label0, "default-domain", lengths[0]) == 0);
    EXPECT(lengths[1] == 5 && memcmp(label1, "extra", 5) == 0);
    count = 1;
    EXPECT(p_CA_GetKCVLabels(0, &count, NULL, lengths, labels) == CKR_BUFFER_TOO_SMALL);
    EXPECT(count == 2);
    EXPECT(p_CA_AddKCV(source, 6, (CK_BYTE_PTR) "secret", 5, (CK_BYTE_PTR) "extra", CK_FALSE) ==
           CKR_DOMAIN_LABEL_ALREADY_EXISTS);
    CHECK(p_CA_ChangeKCVLabel(source, 5, (CK_BYTE_PTR) "extra", 6, (CK_BYTE_PTR) "extra2"));
    CHECK(p_CA_DeleteKCV(source, 6, (CK_BYTE_PTR) "extra2"));
    EXPECT(p_CA_DeleteKCV(source, 6, (CK_BYTE_PTR) "extra2") == CKR_DOMAIN_LABEL_INVALID);
    count = 0;
    CHECK(p_CA_GetKCVLabels(0, &count, NULL, NULL, NULL));
    EXPECT(count == 1);

    free(offer);
    free(accept);
    free(confirm);
    free(blob);
    CHECK(p_C_Finalize(NULL));
    EXPECT(p_CA_MigrateKeys(source, target, 0, 3, data) == CKR_CRYPTOKI_NOT_INITIALIZED);
    dlclose(module);
    printf("cpv4: OK\n");
    return 0;
}
